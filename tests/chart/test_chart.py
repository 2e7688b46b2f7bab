"""The Helm chart: lint, render, the schema's refusals, deploy/ as its output, and Shirube's own
readiness rules over what it renders (its own medicine)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from apps.clusters import reduce
from apps.readiness.rules import IGNORE_REASON, Subject, evaluate, ignored_rules
from tests.harness.helm import CHART, helm, helm_binary, render

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = "ci/production-values.yaml"
QUEUES = {"celery", "sync", "deployments", "notifications", "watch"}
NOTIFY_SECRETS = (
    "secrets.slack.name=shirube-slack", "secrets.smtp.name=shirube-smtp", "secrets.fluxEvents.name=shirube-flux-events",
)  # fmt: skip


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict], kind: str, name: str) -> dict:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_helm_lint_strict_passes_with_the_defaults_and_the_production_values():
    # `helm lint` cannot be told a CRD exists (no --api-versions): the Prometheus Operator's
    # objects are rendered and checked by the template tests and the real API server instead.
    no_crds = (
        "--set",
        "metrics.serviceMonitor.enabled=false",
        "--set",
        "metrics.prometheusRule.enabled=false",
    )
    for values in ((), ("-f", str(CHART / PRODUCTION), *no_crds)):
        result = helm("lint", "--strict", str(CHART), *values, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout


def test_the_defaults_render_what_deploy_had():
    docs = render()
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("ClusterRole", "shirube-sync"),
        ("ClusterRoleBinding", "shirube-sync"),
        ("ConfigMap", "shirube-config"),
        ("Deployment", "shirube-beat"),
        ("Deployment", "shirube-watch"),
        ("Deployment", "shirube-web"),
        ("Deployment", "shirube-worker"),
        ("Job", "shirube-migrate"),
        ("PodDisruptionBudget", "shirube-watch"),
        ("PodDisruptionBudget", "shirube-web"),
        ("PodDisruptionBudget", "shirube-worker"),
        ("Service", "shirube-metrics"),
        ("Service", "shirube-web"),
        ("ServiceAccount", "shirube"),
    ]
    # Off by default: they need a choice (or a CRD) the installer makes.
    assert not {"Ingress", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} & {
        d["kind"] for d in docs
    }
    job = named(docs, "Job", "shirube-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # A pre-install hook runs before the release's ConfigMap and ServiceAccount exist.
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert "envFrom" not in container and "serviceAccountName" not in job["spec"]["template"]["spec"]
    assert {"DATABASE_URL", "SECRET_KEY_FILE", "SHIRUBE_VAR_DIR"} <= {e["name"] for e in container["env"]}


def test_web_runs_asgi_and_the_watch_sessions_have_a_threads_worker_of_their_own():
    docs = render()
    command = named(docs, "Deployment", "shirube-web")["spec"]["template"]["spec"]["containers"][0]["command"]
    # Live pages stream (SSE, issue 18): uvicorn's workers, a coroutine per open page.
    assert command[:3] == [
        "gunicorn",
        "portal.asgi:application",
        "--worker-class=uvicorn_worker.UvicornWorker",
    ]
    assert "--bind=0.0.0.0:9100" in command  # /metrics' port, answered by the ASGI wrapper
    watch = named(docs, "Deployment", "shirube-watch")["spec"]["template"]["spec"]
    assert watch["containers"][0]["command"][:6] == [
        "celery", "-A", "portal", "worker", "--queues=watch", "--pool=threads"
    ]  # fmt: skip
    assert watch["terminationGracePeriodSeconds"] == 60  # a session ends within a second of SIGTERM
    worker = named(docs, "Deployment", "shirube-worker")["spec"]["template"]["spec"]
    assert "--queues=celery,sync,deployments,notifications" in worker["containers"][0]["command"]
    assert not any(a.startswith("--pool") for a in worker["containers"][0]["command"])  # prefork
    # Only the worker that runs deployments holds the GitOps deploy key.
    assert "git" in {v["name"] for v in worker["volumes"]}
    assert "git" not in {v["name"] for v in watch["volumes"]}
    assert "SHIRUBE_GIT_SSH_KEY_FILE" not in {e["name"] for e in watch["containers"][0]["env"]}


def test_deploy_is_the_charts_output():
    env = {**os.environ, "HELM": str(helm_binary())}  # skips (fails under CI) without Helm, as the others
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_deploy.py"), "--check"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_secrets_are_named_never_valued():
    for docs in (render(), render(PRODUCTION), render(sets=NOTIFY_SECRETS)):
        assert not by_kind(docs, "Secret")
        for deployment in by_kind(docs, "Deployment") + by_kind(docs, "Job"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                for env in container.get("env", []):
                    if env["name"] in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}:
                        assert env["valueFrom"]["secretKeyRef"]["name"] == "shirube-secrets"
                        assert "value" not in env
                    # Slack's and SMTP's secrets and the Flux receiver's keys: files, never values.
                    assert env["name"] not in {
                        "SHIRUBE_SLACK_BOT_TOKEN", "SHIRUBE_SLACK_SIGNING_SECRET", "EMAIL_HOST_PASSWORD"
                    }  # fmt: skip


def test_slack_smtp_and_flux_event_secrets_are_mounted_as_files_where_read():
    docs = render(sets=NOTIFY_SECRETS)

    def pod(name: str) -> tuple[dict, dict, dict]:
        spec = named(docs, "Deployment", name)["spec"]["template"]["spec"]
        container = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v.get("secret", {}).get("secretName") for v in spec["volumes"]}
        return env, mounts, volumes

    for name in ("shirube-web", "shirube-worker", "shirube-watch", "shirube-beat"):
        env, mounts, volumes = pod(name)
        assert env["SHIRUBE_SLACK_BOT_TOKEN_FILE"] == "/etc/shirube/slack/SLACK_BOT_TOKEN", name
        assert env["SHIRUBE_SLACK_SIGNING_SECRET_FILE"] == "/etc/shirube/slack/SLACK_SIGNING_SECRET", name
        assert env["EMAIL_HOST_PASSWORD_FILE"] == "/etc/shirube/smtp/EMAIL_HOST_PASSWORD", name
        assert volumes[mounts["/etc/shirube/slack"]] == "shirube-slack", name
        assert volumes[mounts["/etc/shirube/smtp"]] == "shirube-smtp", name
    # The Flux event receiver is web's: only web holds the clusters' HMAC keys.
    env, mounts, volumes = pod("shirube-web")
    assert env["SHIRUBE_FLUX_EVENTS_KEY_DIR"] == "/etc/shirube/flux-events"
    assert volumes[mounts["/etc/shirube/flux-events"]] == "shirube-flux-events"
    env, mounts, _ = pod("shirube-worker")
    assert "SHIRUBE_FLUX_EVENTS_KEY_DIR" not in env and "/etc/shirube/flux-events" not in mounts
    # Without them, nothing points at a file that is not there (settings would refuse to start).
    web = named(render(), "Deployment", "shirube-web")["spec"]["template"]["spec"]["containers"][0]
    assert not {"SHIRUBE_SLACK_BOT_TOKEN_FILE", "EMAIL_HOST_PASSWORD_FILE", "SHIRUBE_FLUX_EVENTS_KEY_DIR"} & {
        e["name"] for e in web["env"]
    }


def test_the_production_values_give_each_queue_its_worker_and_the_optional_objects():
    docs = render(PRODUCTION)
    workers = {
        d["metadata"]["name"]: d
        for d in by_kind(docs, "Deployment")
        if d["metadata"]["name"].startswith(("shirube-worker", "shirube-watch"))
    }
    assert set(workers) == {
        "shirube-worker-sync", "shirube-worker-deployments", "shirube-worker-notifications", "shirube-watch",
    }  # fmt: skip
    consumed = set()
    for worker in workers.values():
        command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
        consumed |= set(next(a for a in command if a.startswith("--queues=")).split("=", 1)[1].split(","))
    assert consumed == QUEUES
    assert named(docs, "ConfigMap", "shirube-config")["data"]["SHIRUBE_TASK_ROUTING"] == "true"
    # Only the workers that call the Kubernetes API mount the token.
    tokens = {n: w["spec"]["template"]["spec"]["automountServiceAccountToken"] for n, w in workers.items()}
    assert tokens["shirube-worker-notifications"] is False and tokens["shirube-worker-sync"] is True
    web = named(docs, "Deployment", "shirube-web")
    assert "replicas" not in web["spec"]  # the HPA owns it
    assert named(docs, "HorizontalPodAutoscaler", "shirube-web")["spec"]["minReplicas"] == 3
    assert web["spec"]["template"]["spec"]["nodeSelector"] == {"node.kubernetes.io/pool": "platform"}
    assert web["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "registry.example.com/platform/shirube@sha256:"
    )
    ingress = named(docs, "Ingress", "shirube")
    [path] = ingress["spec"]["rules"][0]["http"]["paths"]
    assert path["backend"]["service"] == {"name": "shirube-web", "port": {"name": "http"}}
    assert ingress["spec"]["tls"][0]["secretName"] == "shirube-tls"
    assert by_kind(docs, "ServiceMonitor") and by_kind(docs, "PrometheusRule")
    assert len(by_kind(docs, "RoleBinding")) == 3


def test_metrics_are_on_a_port_the_ingress_service_does_not_expose():
    docs = render(PRODUCTION)
    service = named(docs, "Service", "shirube-web")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    web = named(docs, "Deployment", "shirube-web")
    [container] = web["spec"]["template"]["spec"]["containers"]
    assert "--bind=0.0.0.0:9100" in container["command"]
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in container["ports"]
    annotations = web["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9100"
    check = yaml.safe_load(annotations["ad.datadoghq.com/web.checks"])
    [instance] = check["openmetrics"]["instances"]
    assert instance["openmetrics_endpoint"] == "http://%%host%%:9100/metrics"
    assert "shirube_http_requests" in instance["metrics"]
    monitor = by_kind(docs, "ServiceMonitor")[0]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_network_policies_list_every_flow_and_never_open_to_everyone():
    docs = render(PRODUCTION)
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(docs, "NetworkPolicy")}
    assert set(policies) == {"shirube-web", "shirube-workers", "shirube-beat-and-migrate"}
    for spec in policies.values():
        for rule in spec.get("ingress") or []:
            assert rule["from"], "an empty `from` admits everyone"
        for rule in spec.get("egress") or []:
            assert rule["to"], "an empty `to` allows everywhere"
    web_in = {p["port"] for rule in policies["shirube-web"]["ingress"] for p in rule["ports"]}
    assert web_in == {8000, 9100}
    web_out = {p["port"] for rule in policies["shirube-web"]["egress"] for p in rule["ports"]}
    assert web_out == {5432, 6379, 443, 53}
    workers_out = {p["port"] for rule in policies["shirube-workers"]["egress"] for p in rule["ports"]}
    assert workers_out == {5432, 6379, 443, 22, 587, 53}
    selected = policies["shirube-workers"]["podSelector"]["matchExpressions"][0]["values"]
    assert set(selected) == {"worker-sync", "worker-deployments", "worker-notifications", "watch"}
    # Flux's notification-controller reaches the event receiver on web's HTTP port.
    [flux] = [r for r in policies["shirube-web"]["ingress"] if any("podSelector" in p for p in r["from"])
              and any(p.get("podSelector", {}).get("matchLabels", {}).get("app") == "notification-controller"
                      for p in r["from"])]  # fmt: skip
    assert [p["port"] for p in flux["ports"]] == [8000]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"web": {"replicas": "two"}}, "/web/replicas"),
        ({"surprise": 1}, "surprise"),
        ({"web": {"resources": {"limits": None}}}, "limits"),
        ({"config": {"DATABASE_URL": "postgres://u:p@h/d"}}, "DATABASE_URL"),  # a secret in the ConfigMap
        ({"image": {"digest": "sha256:nothex"}}, "/image/digest"),
        ({"workers": [{**yaml.safe_load((CHART / "values.yaml").read_text())["workers"][0],
                       "queues": ["celery", "sync"]}]}, 'no worker consumes the "deployments" queue'),
        ({"networkPolicy": {"enabled": True}}, "networkPolicy.egress.postgres.peers"),
        ({"workers": [{**yaml.safe_load((CHART / "values.yaml").read_text())["workers"][1],
                       "pool": "gevent"}]}, "/workers/0/pool"),
        ({"metrics": {"serviceMonitor": {"enabled": True}}}, "ServiceMonitor CRD"),
    ],
)  # fmt: skip
def test_wrong_values_are_refused_with_the_value_named(values, message, tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = helm("template", "shirube", str(CHART), "-f", str(path), check=False)
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr


# --- its own medicine: Shirube's readiness rules over the rendered Deployments ------------


def as_served(obj: dict, docs: list[dict]) -> dict:
    """The object as the sync would read it from the cluster: uid and time set by the API server,
    and the replicas an HPA keeps (it owns `replicas` where the chart leaves it out)."""
    obj = {
        **obj,
        "metadata": {
            **obj["metadata"],
            "uid": str(uuid.uuid4()),
            "creationTimestamp": "2026-11-30T00:00:00Z",
        },
    }
    if obj["kind"] == "Deployment" and "replicas" not in obj["spec"]:
        [hpa] = [
            h
            for h in by_kind(docs, "HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"]["name"] == obj["metadata"]["name"]
        ]
        obj["spec"] = {**obj["spec"], "replicas": hpa["spec"]["minReplicas"]}
    return obj


def subjects(docs: list[dict]) -> dict[str, Subject]:
    """Each rendered Deployment as a rule subject in a production cluster, reduced as the sync reduces."""
    accounts = {
        sa["metadata"]["name"]: reduce.service_account(as_served(sa, docs))["annotations"]
        for sa in by_kind(docs, "ServiceAccount")
    }
    pdbs = [reduce.pdb(as_served(p, docs))["selector"] for p in by_kind(docs, "PodDisruptionBudget")]
    out = {}
    for deployment in by_kind(docs, "Deployment"):
        row = reduce.workload(as_served(deployment, docs))
        out[row["name"]] = Subject(
            kind=row["kind"], namespace=row["namespace"], name=row["name"], template=row["template"],
            annotations=row["annotations"], desired=row["desired"], service_accounts=accounts,
            pdb_selectors=pdbs, production=True,
        )  # fmt: skip
    return out


SERVING_RULES = {
    "graceful-termination", "readiness-probe", "liveness-probe", "resource-requests", "memory-limit",
    "metrics-exposed", "image-pinned", "replicas-and-pdb",
}  # fmt: skip


@pytest.mark.parametrize("values", [(), (PRODUCTION,)], ids=["defaults", "production"])
def test_every_readiness_rule_passes_on_every_rendered_deployment(values):
    results = {name: evaluate(s) for name, s in subjects(render(*values)).items()}
    irsa = {"sts-regional-endpoints"} if values else set()
    for name, outcome in results.items():
        if name == "shirube-beat":
            # No ports: not a serving workload; the singleton's replicas rule is exempt, in the open.
            assert (
                set(outcome)
                == {"resource-requests", "memory-limit", "image-pinned", "replicas-and-pdb"} | irsa
            )
        else:
            assert set(outcome) == SERVING_RULES | irsa, name  # web and every worker serve /metrics
    failures = {
        (name, rule): problems for name, r in results.items() for rule, problems in r.items() if problems
    }
    assert failures == {
        ("shirube-beat", "replicas-and-pdb"): [
            "1 replica, fewer than 2",
            "no PodDisruptionBudget selects its pods",
        ]
    }


def test_beat_carries_its_exemption_and_its_reason():
    beat = subjects(render(PRODUCTION))["shirube-beat"]
    assert ignored_rules(beat.annotations) == {"replicas-and-pdb"}
    assert "singleton" in beat.annotations[IGNORE_REASON]


def test_the_rules_would_notice_a_chart_that_falls_short():
    """The control: the same rules fail a render without the web PDB, with one replica and no scrape."""
    docs = render(
        sets=("web.replicas=1", "web.pdb.enabled=false", "metrics.enabled=false", "image.tag=latest")
    )
    web = evaluate(subjects(docs)["shirube-web"])
    assert web["replicas-and-pdb"] == ["1 replica, fewer than 2", "no PodDisruptionBudget selects its pods"]
    assert web["metrics-exposed"] and web["image-pinned"]


# --- the dashboard, the alerts and the Datadog check read metrics that exist ---------------


@pytest.fixture
def exposed_names(db) -> set[str]:
    """Every sample name Shirube's /metrics can show: the defined metrics and the scrape-time ones."""
    import re

    from prometheus_client import REGISTRY

    from apps.clusters.models import Cluster
    from apps.core.metrics import _ScrapeTime

    Cluster.objects.create(name="one", connection="kubeconfig")  # a family without rows shows no sample
    names = {n for n in REGISTRY._names_to_collectors if n.startswith("shirube_")}
    names |= {s.name for family in _ScrapeTime().collect() for s in family.samples}
    return {n for n in names if re.match(r"^shirube_[a-z_]+$", n)}


def referenced(text: str) -> set[str]:
    import re

    return set(re.findall(r"\bshirube_[a-z_]+\b", text)) - {"shirube_io"}


def test_the_dashboard_and_the_alerts_use_only_metrics_shirube_exposes(exposed_names):
    dashboard = (CHART / "dashboards" / "shirube.json").read_text()
    rules = yaml.safe_dump(by_kind(render(PRODUCTION), "PrometheusRule")[0]["spec"])
    used = referenced(dashboard) | referenced(rules)
    assert used and used <= exposed_names, used - exposed_names
    # The Datadog check names counters without _total (the openmetrics check adds .count).
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for name in values["metrics"]["datadog"]["metrics"]:
        assert (
            name in exposed_names or f"{name}_total" in exposed_names or f"{name}_count" in exposed_names
        ), name
