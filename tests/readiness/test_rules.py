"""Each rule on real Kubernetes JSON (kubesim's builders) reduced by the sync's own reducers."""

from __future__ import annotations

import pytest

from apps.readiness.rules import RULES, evaluate, ignored_rules, pre_stop_wait
from kubesim import objects as o
from tests.readiness.conftest import edit, subject, template_of

IMAGE = f"{o.REGISTRY}/payments/api:v1.0.0"


def check(rule_id: str, s) -> list[str] | None:
    return RULES[rule_id].check(s)


def api(**container_kwargs) -> o.Workload:
    return o.deployment(
        "payments", "api", IMAGE, 2, containers=[o.container("api", IMAGE, **container_kwargs)]
    )


def worker() -> o.Workload:
    return o.deployment("payments", "worker", IMAGE, 1, containers=[o.container("worker", IMAGE, port=None)])


def add_sidecar(workload: o.Workload, **kwargs) -> None:
    sidecar = o.container("log-shipper", f"{o.REGISTRY}/platform/fluent-bit:3.1.4", port=None, **kwargs)
    edit(workload, lambda spec: spec["containers"].append(dict(sidecar)))


def add_init(workload: o.Workload, image: str = IMAGE, **kwargs) -> None:
    init = o.container("migrate", image, port=None, pre_stop="none", **kwargs)
    init.pop("resources")
    edit(workload, lambda spec: spec.setdefault("initContainers", []).append(dict(init)))


def annotate_pods(workload: o.Workload, annotations: dict) -> None:
    template_of(workload.controller)["metadata"].setdefault("annotations", {}).update(annotations)
    for pod in workload.pods:
        pod["metadata"].setdefault("annotations", {}).update(annotations)


def a_job() -> o.Workload:
    return o.job("payments", "backfill", IMAGE)


def a_daemonset(**kwargs) -> o.Workload:
    return o.daemonset("kube-system", "node-agent", IMAGE, containers=[o.container("agent", IMAGE, **kwargs)])


def a_cronjob() -> dict:
    return o.cronjob("payments", "report", IMAGE, "0 2 * * *")


# -- graceful-termination ------------------------------------------------------


def test_graceful_termination_passes_with_a_sleep_and_a_grace_period_that_covers_it():
    assert check("graceful-termination", subject(api())) == []


def test_graceful_termination_fails_a_serving_container_without_pre_stop():
    (problem,) = check("graceful-termination", subject(api(pre_stop="none")))
    assert "container api has no preStop hook" in problem


def test_graceful_termination_fails_when_the_grace_period_does_not_exceed_the_wait(settings):
    settings.SHIRUBE_READINESS_GRACE_MARGIN = 5
    w = api(pre_stop="exec")  # sh -c "sleep 15"
    edit(w, lambda spec: spec.update(terminationGracePeriodSeconds=18))
    (problem,) = check("graceful-termination", subject(w))
    assert "terminationGracePeriodSeconds 18" in problem and "(15s)" in problem
    edit(w, lambda spec: spec.update(terminationGracePeriodSeconds=20))
    assert check("graceful-termination", subject(w)) == []


def test_graceful_termination_accepts_an_http_pre_stop_hook():
    w = api(pre_stop="none")
    edit(
        w,
        lambda spec: spec["containers"][0].update(
            lifecycle={"preStop": {"httpGet": {"path": "/drain", "port": 8080}}}
        ),
    )
    assert check("graceful-termination", subject(w)) == []


def test_graceful_termination_uses_the_default_grace_period_when_the_field_is_missing():
    w = api(pre_stop="exec")  # 15 s + 5 s margin < the 30 s default
    edit(w, lambda spec: spec.pop("terminationGracePeriodSeconds"))
    assert subject(w).template["terminationGracePeriodSeconds"] == 30
    assert check("graceful-termination", subject(w)) == []


def test_graceful_termination_ignores_sidecars_without_ports_and_init_containers():
    w = api()
    add_sidecar(w, pre_stop="none")
    add_init(w)
    assert check("graceful-termination", subject(w)) == []


def test_graceful_termination_judges_a_sidecar_that_serves_a_port():
    w = api()
    proxy = o.container("proxy", f"{o.REGISTRY}/platform/envoy:1.31.0", port=9901, pre_stop="none")
    edit(w, lambda spec: spec["containers"].append(dict(proxy)))
    (problem,) = check("graceful-termination", subject(w))
    assert "container proxy" in problem


@pytest.mark.parametrize("build", [a_job, a_daemonset, a_cronjob, worker])
def test_graceful_termination_does_not_apply_to_jobs_daemonsets_or_workers(build):
    assert check("graceful-termination", subject(build())) is None


def test_pre_stop_wait_reads_the_native_sleep_and_exec_sleep():
    assert pre_stop_wait({"type": "sleep", "seconds": 12}) == 12
    assert pre_stop_wait({"type": "exec", "command": "/bin/sh -c sleep 15"}) == 15
    assert pre_stop_wait({"type": "exec", "command": "/bin/sh -c nginx -s quit; sleep 5s"}) == 5
    assert pre_stop_wait({"type": "exec", "command": "/app/drain"}) is None
    assert pre_stop_wait({"type": "httpGet", "path": "/drain"}) is None


# -- probes --------------------------------------------------------------------


def test_readiness_probe_passes_and_fails():
    assert check("readiness-probe", subject(api())) == []
    (problem,) = check("readiness-probe", subject(api(probes=False)))
    assert problem == "no readiness probe on api"


def test_readiness_probe_applies_to_a_statefulset_and_not_to_a_daemonset_or_worker():
    sts = o.statefulset(
        "payments",
        "db-proxy",
        IMAGE,
        2,
        containers=[o.container("pgbouncer", IMAGE, port=6432, probes=False)],
    )
    assert check("readiness-probe", subject(sts)) == ["no readiness probe on pgbouncer"]
    assert check("readiness-probe", subject(a_daemonset(probes=False))) is None
    assert check("readiness-probe", subject(worker())) is None


def test_liveness_probe_fails_when_missing_or_identical_to_readiness():
    assert check("liveness-probe", subject(api())) == []
    w = api()
    edit(w, lambda spec: spec["containers"][0].pop("livenessProbe"))
    assert check("liveness-probe", subject(w)) == ["no liveness probe on api"]
    same = api()
    edit(
        same,
        lambda spec: spec["containers"][0].update(
            livenessProbe=dict(spec["containers"][0]["readinessProbe"])
        ),
    )
    (problem,) = check("liveness-probe", subject(same))
    assert "identical to the readiness probe" in problem


def test_liveness_probe_on_the_same_endpoint_with_more_patience_passes():
    w = api()

    def patient(spec):
        c = spec["containers"][0]
        c["livenessProbe"] = {**c["readinessProbe"], "failureThreshold": 10}

    edit(w, patient)
    assert check("liveness-probe", subject(w)) == []


# -- resources -----------------------------------------------------------------


def test_resource_requests_pass_and_fail():
    assert check("resource-requests", subject(api())) == []
    w = api()
    edit(w, lambda spec: spec["containers"][0]["resources"]["requests"].pop("cpu"))
    assert check("resource-requests", subject(w)) == ["container api has no cpu request"]
    bare = api()
    edit(bare, lambda spec: spec["containers"][0].pop("resources"))
    assert check("resource-requests", subject(bare)) == ["container api has no cpu or memory request"]


def test_resource_requests_skip_init_containers_but_judge_sidecars_jobs_and_daemonsets():
    w = api()
    add_init(w)  # no resources at all
    assert check("resource-requests", subject(w)) == []
    add_sidecar(w, cpu="")
    assert check("resource-requests", subject(w)) == ["container log-shipper has no cpu request"]
    job = a_job()
    edit(job, lambda spec: spec["containers"][0].pop("resources", None))
    assert check("resource-requests", subject(job)) == [
        f"container {job.controller['spec']['template']['spec']['containers'][0]['name']} has no cpu or memory request"
    ]
    assert check("resource-requests", subject(a_daemonset())) == []


def test_memory_limit_pass_and_fail():
    assert check("memory-limit", subject(api())) == []
    w = api()
    add_sidecar(w, memory_limit="")
    assert check("memory-limit", subject(w)) == ["no memory limit on log-shipper"]


# -- sts-regional-endpoints ----------------------------------------------------

ROLE = o.role_arn("payments-api")


def irsa_api(*, regional: bool = True, sa_annotations: dict | None = None) -> tuple[o.Workload, dict]:
    container = o.container("api", IMAGE)
    if not regional:
        container["env"] = [e for e in container["env"] if e["name"] != "AWS_STS_REGIONAL_ENDPOINTS"]
    w = o.deployment(
        "payments", "api", IMAGE, 2, containers=[container], service_account="api", role_arn=ROLE
    )
    sa = o.serviceaccount("payments", "api", {"eks.amazonaws.com/role-arn": ROLE, **(sa_annotations or {})})
    return w, sa


def test_sts_passes_irsa_pods_with_the_regional_variable():
    w, sa = irsa_api()
    assert any(e["name"] == "AWS_ROLE_ARN" for e in w.pods[0]["spec"]["containers"][0]["env"])
    assert check("sts-regional-endpoints", subject(w, service_accounts=[sa])) == []


def test_sts_fails_irsa_pods_without_the_regional_variable():
    w, sa = irsa_api(regional=False)
    (problem,) = check("sts-regional-endpoints", subject(w, service_accounts=[sa]))
    assert "global STS endpoint" in problem and "api" in problem


def test_sts_judges_pods_even_without_the_service_account_synced():
    w, _ = irsa_api(regional=False)  # AWS_ROLE_ARN injected by the webhook is enough
    assert check("sts-regional-endpoints", subject(w))


def test_sts_passes_when_the_service_account_asks_the_webhook_for_regional():
    w, sa = irsa_api(regional=False, sa_annotations={"eks.amazonaws.com/sts-regional-endpoints": "true"})
    assert check("sts-regional-endpoints", subject(w, service_accounts=[sa])) == []


def test_sts_fails_a_legacy_value():
    w, sa = irsa_api(regional=False)
    edit(
        w,
        lambda spec: spec["containers"][0]["env"].append(
            {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "legacy"}
        ),
    )
    assert check("sts-regional-endpoints", subject(w, service_accounts=[sa]))


def test_sts_with_no_pods_judges_the_service_account_and_the_template():
    w, sa = irsa_api(regional=False)
    w.pods = []
    assert check("sts-regional-endpoints", subject(w, service_accounts=[sa]))
    ok, sa = irsa_api()
    ok.pods = []
    assert check("sts-regional-endpoints", subject(ok, service_accounts=[sa])) == []


def test_sts_does_not_apply_without_irsa_or_with_pod_identity():
    assert check("sts-regional-endpoints", subject(api())) is None
    w = api()
    edit(w, lambda spec: spec["containers"][0]["env"].append(
        {"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"}
    ))  # fmt: skip
    assert check("sts-regional-endpoints", subject(w)) is None


def test_sts_applies_to_jobs_too():
    container = o.container("backfill", IMAGE, port=None)
    container["env"] = [e for e in container["env"] if e["name"] != "AWS_STS_REGIONAL_ENDPOINTS"]
    job = o.job("payments", "backfill", containers=[container])
    edit(job, lambda spec: spec["containers"][0]["env"].append({"name": "AWS_ROLE_ARN", "value": ROLE}))
    assert check("sts-regional-endpoints", subject(job))


# -- metrics-exposed -----------------------------------------------------------


def test_metrics_exposed_fails_without_scrape_annotations():
    assert check("metrics-exposed", subject(api())) == [
        "no Prometheus scrape or Datadog Autodiscovery check annotations on the pods"
    ]


def test_metrics_exposed_passes_with_prometheus_or_datadog_annotations():
    w = api()
    annotate_pods(w, {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"})
    assert check("metrics-exposed", subject(w)) == []
    dd = api()
    annotate_pods(dd, {"ad.datadoghq.com/api.checks": '{"openmetrics": {"instances": []}}'})
    assert check("metrics-exposed", subject(dd)) == []


def test_metrics_exposed_reads_running_pods_when_the_template_is_not_annotated():
    w = api()
    for pod in w.pods:
        pod["metadata"]["annotations"] = {"ad.datadoghq.com/api.checks": "{}x"}
    assert check("metrics-exposed", subject(w)) == []


def test_metrics_exposed_fails_when_scraping_is_switched_off():
    w = api()
    annotate_pods(w, {"prometheus.io/scrape": "false"})
    assert check("metrics-exposed", subject(w))


def test_metrics_exposed_applies_to_daemonsets_with_ports_not_to_jobs_or_workers():
    assert check("metrics-exposed", subject(a_daemonset()))
    assert check("metrics-exposed", subject(a_job())) is None
    assert check("metrics-exposed", subject(a_cronjob())) is None
    assert check("metrics-exposed", subject(worker())) is None


# -- image-pinned --------------------------------------------------------------


def test_image_pinned_judges_containers_and_init_containers():
    assert check("image-pinned", subject(api())) == []
    w = api()
    add_init(w, image=f"{o.REGISTRY}/payments/migrate:latest")
    (problem,) = check("image-pinned", subject(w))
    assert "container migrate" in problem
    job = o.job("payments", "backfill", f"{o.REGISTRY}/payments/backfill")
    assert check("image-pinned", subject(job))


# -- replicas-and-pdb ----------------------------------------------------------


def test_replicas_and_pdb_only_in_production_and_only_deployments():
    assert check("replicas-and-pdb", subject(api())) is None
    sts = o.statefulset("payments", "db", IMAGE, 1)
    assert check("replicas-and-pdb", subject(sts, production=True)) is None


def test_replicas_and_pdb_passes_with_two_replicas_and_a_matching_budget():
    pdb = o.pdb("payments", "api", {"app": "api"}, max_unavailable=1, expected=2, healthy=2)
    assert check("replicas-and-pdb", subject(api(), pdbs=[pdb], production=True)) == []


def test_replicas_and_pdb_fails_one_replica_or_no_matching_budget():
    single = o.deployment("payments", "api", IMAGE, 1)
    pdb = o.pdb("payments", "api", {"app": "api"}, max_unavailable=1, expected=1, healthy=1)
    assert check("replicas-and-pdb", subject(single, pdbs=[pdb], production=True)) == [
        "1 replica, fewer than 2"
    ]
    other = o.pdb("payments", "other", {"app": "other"}, max_unavailable=1)
    assert check("replicas-and-pdb", subject(api(), pdbs=[other], production=True)) == [
        "no PodDisruptionBudget selects its pods"
    ]


def test_replicas_and_pdb_understands_match_expressions_and_scaled_down_deployments():
    pdb = o.pdb("payments", "api", {}, max_unavailable=1)
    pdb["spec"]["selector"] = {
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]
    }
    assert check("replicas-and-pdb", subject(api(), pdbs=[pdb], production=True)) == []
    scaled = o.deployment("payments", "api", IMAGE, 0)  # no pods: the template's labels decide
    problems = check("replicas-and-pdb", subject(scaled, pdbs=[pdb], production=True))
    assert problems == ["0 replicas, fewer than 2"]


# -- restarts ------------------------------------------------------------------


def test_restarts_above_the_threshold_fail(settings):
    settings.SHIRUBE_READINESS_RESTARTS_24H = 5
    assert check("restarts", subject(api(), restarts_24h=5)) == []
    (problem,) = check("restarts", subject(api(), restarts_24h=6))
    assert problem.startswith("6 restarts in the last 24 hours")


def test_restarts_do_not_apply_to_a_workload_without_pods():
    assert check("restarts", subject(a_cronjob())) is None


# -- registry ------------------------------------------------------------------


def test_every_rule_is_complete_and_the_registry_uses_the_lesson_ids():
    assert set(RULES) == {
        "graceful-termination", "readiness-probe", "liveness-probe", "resource-requests", "memory-limit",
        "sts-regional-endpoints", "metrics-exposed", "image-pinned", "replicas-and-pdb", "restarts",
    }  # fmt: skip
    for rule in RULES.values():
        assert rule.title and rule.rationale and rule.fix and rule.snippet and rule.lesson
        assert rule.severity in {"high", "medium", "low"}


def test_the_metrics_fix_snippet_is_valid_and_names_its_metrics():
    """People paste it: valid YAML and JSON, and no catch-all pattern that bills every series."""
    import json

    import yaml

    annotations = yaml.safe_load(RULES["metrics-exposed"].snippet)["spec"]["template"]["metadata"][
        "annotations"
    ]
    (check_json,) = annotations.values()
    (instance,) = json.loads(check_json)["openmetrics"]["instances"]
    assert instance["metrics"] and not any(m in {".*", "*", ".+"} for m in instance["metrics"])
    assert not any(m.endswith("_total") for m in instance["metrics"])


def test_evaluate_leaves_out_rules_that_do_not_apply():
    results = evaluate(subject(worker()))
    assert "graceful-termination" not in results and results["resource-requests"] == []


def test_ignored_rules_parses_the_annotation():
    assert ignored_rules({"shirube.io/ignore-rules": "metrics-exposed, image-pinned nonsense"}) == {
        "metrics-exposed", "image-pinned",
    }  # fmt: skip
    assert ignored_rules({"shirube.io/ignore-rules": "*"}) == set(RULES)
    assert ignored_rules({}) == set()
