"""deploy/ (Kubernetes manifests) checked by parsing them; no cluster needed.

tests/realkube/test_rbac.py then applies them to a real kube-apiserver and runs the
sync as the service account they define.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from apps.clusters import kube

ROOT = Path(__file__).resolve().parents[2]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEPLOY = ROOT / "deploy"
NAMESPACE = "shirube"
SERVICE_ACCOUNT = "shirube"
READ_VERBS = {"get", "list", "watch"}
FORBIDDEN_RESOURCES = {"secrets", "configmaps"}
# Settings that are secrets: never literal, never in the ConfigMap.
SECRET_SETTINGS = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
FROM_SECRET_KEY_REF = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
SECRET_NAME = "shirube-secrets"
CONFIG_NAME = "shirube-config"
NAMESPACED_KINDS = {"ServiceAccount", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "Job"}
CLUSTER_KINDS = {"ClusterRole", "ClusterRoleBinding"}


# --- loading ---------------------------------------------------------------------


def kustomization() -> dict:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


def manifest_files() -> list[Path]:
    """The kustomization's files: every YAML file directly in deploy/."""
    return sorted(p for p in DEPLOY.glob("*.y*ml") if p.name != "kustomization.yaml")


def job_files() -> list[Path]:
    """One-shot Jobs, created by hand per release (deploy/jobs/)."""
    return sorted(DEPLOY.glob("jobs/*.y*ml"))


@functools.cache
def _parsed(path: Path, text: str) -> tuple:
    # libyaml's loader when PyYAML has it: the pure-Python one took a quarter second per call,
    # and the helpers below call this for nearly every test.
    return tuple(doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None)


def documents() -> list[dict]:
    """Every object in every YAML file under deploy/ (a fresh copy each call: tests may change it)."""
    paths = manifest_files() + job_files()
    return copy.deepcopy([doc for path in paths for doc in _parsed(path, path.read_text())])


def of_kind(kind: str) -> list[dict]:
    return [d for d in documents() if d["kind"] == kind]


def name_of(doc: dict) -> str:
    return doc["metadata"].get("name") or doc["metadata"]["generateName"]


def one(kind: str, name: str) -> dict:
    found = [d for d in of_kind(kind) if name_of(d) == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def deployments() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in of_kind("Deployment")}


def containers(
    *, init: bool = False, kinds: tuple[str, ...] = ("Deployment",)
) -> list[tuple[str, dict, dict]]:
    """(workload name, pod spec, container) for every container of the Deployments (and Jobs)."""
    key = "initContainers" if init else "containers"
    return [
        (name_of(d), d["spec"]["template"]["spec"], c)
        for kind in kinds
        for d in of_kind(kind)
        for c in d["spec"]["template"]["spec"].get(key) or []
    ]


def every_container() -> list[tuple[str, dict, dict]]:
    """Containers and init containers of the Deployments and of the Jobs."""
    return containers(kinds=("Deployment", "Job")) + containers(init=True, kinds=("Deployment", "Job"))


def config() -> dict[str, str]:
    return one("ConfigMap", CONFIG_NAME)["data"]


def readme_settings() -> set[str]:
    """The variable names of README.md's Configuration table (first column)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.MULTILINE))
    assert {"SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS", "SHIRUBE_SYNC_INTERVAL"} <= names, names
    return names


def dockerfile_uid() -> int:
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"useradd\b.*--uid (\d+)\b.*\bshirube\b", dockerfile)
    assert match and "\nUSER shirube\n" in dockerfile, (
        "the Dockerfile no longer creates and runs as `shirube`"
    )
    return int(match.group(1))


def quantity(value) -> float:
    """A Kubernetes quantity as a number (cores or bytes); only the suffixes used here."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def pre_stop_seconds(container: dict) -> int:
    """How long the preStop hook waits: the native sleep action, or exec `sleep N`."""
    hook = (container.get("lifecycle") or {}).get("preStop")
    assert hook, f"{container['name']}: no preStop hook"
    if "sleep" in hook:
        return int(hook["sleep"]["seconds"])
    command = (hook.get("exec") or {}).get("command") or []
    assert command[:1] == ["sleep"], f"{container['name']}: preStop is neither a sleep action nor `sleep N`"
    return int(command[1])


def option(command: list[str], name: str) -> str:
    """The value of `--name=value` or `--name value` in a command line."""
    for i, arg in enumerate(command):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name:
            return command[i + 1]
    raise AssertionError(f"{name} not in {command}")


def rbac_grants(role: dict) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule.get("apiGroups") or []
        for resource in rule.get("resources") or []
        for verb in rule.get("verbs") or []
    }


# --- the files -------------------------------------------------------------------


def test_the_kustomization_lists_every_manifest_and_nothing_else():
    resources = kustomization()["resources"]
    assert len(resources) == len(set(resources))
    assert sorted(resources) == [p.name for p in manifest_files()]
    assert kustomization()["kind"] == "Kustomization"


def test_every_object_is_in_the_shirube_namespace_or_cluster_scoped():
    docs = documents()
    kinds = {d["kind"] for d in docs}
    assert kinds == NAMESPACED_KINDS | CLUSTER_KINDS, kinds
    names = [(d["kind"], name_of(d)) for d in docs]
    assert len(names) == len(set(names)), names
    for doc in docs:
        where = doc["metadata"].get("namespace")
        if doc["kind"] in CLUSTER_KINDS:
            assert where is None, doc["metadata"]
        else:
            assert where == NAMESPACE, doc["metadata"]


def test_no_secret_and_no_namespace_object_is_in_the_repository():
    # The Secret is created by hand (docs/deploy.md); the namespace too, before it.
    kinds = {d["kind"] for d in documents()}
    assert "Secret" not in kinds and "Namespace" not in kinds


# --- RBAC ------------------------------------------------------------------------


def plural(kind: str) -> str:
    """The resource name of a Flux kind (the sync discovers it; the CRDs follow this rule)."""
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def synced_resources() -> set[tuple[str, str]]:
    """(API group, resource) of everything the sync lists: KINDS, and FLUX_KINDS if the code has it."""
    core = {(spec.group, spec.plural) for spec in kube.KINDS}
    flux = {
        (group, plural(kind)) for group, kinds in getattr(kube, "FLUX_KINDS", {}).items() for kind in kinds
    }
    return core | flux


def test_the_cluster_role_grants_exactly_read_on_the_kinds_the_sync_lists():
    [role] = of_kind("ClusterRole")
    assert role["metadata"]["name"] == "shirube-sync"
    expected = {(group, resource, verb) for group, resource in synced_resources() for verb in READ_VERBS}
    assert rbac_grants(role) == expected
    # Spelled out, so that a change to what the sync reads is a visible decision here too.
    core = {
        ("", "namespaces"), ("", "pods"), ("", "serviceaccounts"), ("", "events"),
        ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"),
        ("apps", "replicasets"), ("batch", "jobs"), ("batch", "cronjobs"),
        ("policy", "poddisruptionbudgets"),
    }  # fmt: skip
    assert {(spec.group, spec.plural) for spec in kube.KINDS} == core
    assert synced_resources() - core <= {
        ("source.toolkit.fluxcd.io", "gitrepositories"), ("source.toolkit.fluxcd.io", "ocirepositories"),
        ("source.toolkit.fluxcd.io", "helmrepositories"), ("source.toolkit.fluxcd.io", "helmcharts"),
        ("kustomize.toolkit.fluxcd.io", "kustomizations"), ("helm.toolkit.fluxcd.io", "helmreleases"),
        ("image.toolkit.fluxcd.io", "imagerepositories"), ("image.toolkit.fluxcd.io", "imagepolicies"),
        ("image.toolkit.fluxcd.io", "imageupdateautomations"),
    }  # fmt: skip


def test_no_rbac_rule_touches_secrets_or_configmaps_or_uses_wildcards():
    roles = of_kind("ClusterRole") + of_kind("Role")
    assert roles
    for role in roles:
        assert "aggregationRule" not in role
        for rule in role["rules"]:
            assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule  # no resourceNames, URLs
            values = rule["apiGroups"] + rule["resources"] + rule["verbs"]
            assert not any("*" in value for value in values), rule
            assert not FORBIDDEN_RESOURCES & set(rule["resources"]), rule
            assert not any("/" in resource for resource in rule["resources"]), rule  # no subresources
            assert set(rule["verbs"]) <= READ_VERBS, rule


def test_the_binding_gives_the_role_to_the_service_account_only():
    [binding] = of_kind("ClusterRoleBinding")
    assert not of_kind("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "shirube-sync",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    ]
    one("ServiceAccount", SERVICE_ACCOUNT)


def test_only_the_worker_mounts_the_service_account_token():
    # The worker runs the sync; pages read the database and beat only publishes tasks.
    assert one("ServiceAccount", SERVICE_ACCOUNT)["automountServiceAccountToken"] is False
    mounts = {}
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == SERVICE_ACCOUNT, name
        mounts[name] = pod["automountServiceAccountToken"]
    assert mounts == {"shirube-web": False, "shirube-worker": True, "shirube-beat": False}
    [job] = of_kind("Job")
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


# --- containers ------------------------------------------------------------------


def test_the_three_deployments_run_gunicorn_and_celery_from_the_placeholder_image():
    found = deployments()
    assert set(found) == {"shirube-web", "shirube-worker", "shirube-beat"}
    commands = {name: c["command"] for name, _, c in containers()}
    assert commands["shirube-web"][:2] == ["gunicorn", "portal.wsgi:application"]
    assert option(commands["shirube-web"], "--bind") == "0.0.0.0:8000"
    assert commands["shirube-worker"][:4] == ["celery", "-A", "portal", "worker"]
    assert commands["shirube-beat"][:4] == ["celery", "-A", "portal", "beat"]
    for name, _, container in every_container():
        assert container["image"] == "shirube:latest", name
    assert kustomization()["images"] == [{"name": "shirube", "newTag": "latest"}]


def test_every_container_has_readiness_and_liveness_probes():
    for name, _, container in containers():
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            handler = container.get(probe)
            assert handler, f"{name}/{container['name']}: no {probe}"
            assert len({"httpGet", "exec", "tcpSocket", "grpc"} & set(handler)) == 1, (name, probe)
            assert handler["timeoutSeconds"] < handler["periodSeconds"] or probe == "startupProbe"


def test_the_web_probes_hit_healthz_and_readyz_with_an_allowed_host():
    [(_, _, web)] = [entry for entry in containers() if entry[0] == "shirube-web"]
    assert web["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    allowed_hosts = config()["ALLOWED_HOSTS"].split(",")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = web[probe]["httpGet"]
        assert http["port"] in ("http", 8000)
        # Django answers 400 to a Host outside ALLOWED_HOSTS, and the kubelet sends the pod IP.
        [host] = [h["value"] for h in http["httpHeaders"] if h["name"].lower() == "host"]
        assert host in allowed_hosts


def test_the_celery_probes_ping_their_own_node():
    commands = {name: c for name, _, c in containers()}
    worker, beat = commands["shirube-worker"], commands["shirube-beat"]
    assert "--enable-remote-control" in beat["command"]  # otherwise beat never answers a ping
    for container, node in ((worker, "celery@$HOSTNAME"), (beat, "celerybeat@$HOSTNAME")):
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = container[probe]["exec"]["command"]
            assert command[:2] == ["sh", "-c"]
            assert f"celery -A portal inspect ping -d {node} " in command[2], command


def test_every_container_pins_requests_and_limits():
    for name, _, container in every_container():
        resources = container["resources"]
        for resource in ("cpu", "memory"):
            request = quantity(resources["requests"][resource])
            limit = quantity(resources["limits"][resource])
            assert 0 < request <= limit, (name, container["name"], resource)


def test_every_container_runs_as_the_dockerfile_user_with_a_read_only_root():
    uid = dockerfile_uid()
    for name, pod, container in every_container():
        pod_context, context = pod["securityContext"], container["securityContext"]
        assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] == uid, name
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert context["runAsNonRoot"] is True and context.get("runAsUser", uid) == uid, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert not context.get("privileged"), name


def test_app_var_is_a_writable_empty_dir_everywhere():
    assert config()["SHIRUBE_VAR_DIR"] == "/app/var"
    assert "SHIRUBE_VAR_DIR=/app/var" in (ROOT / "Dockerfile").read_text()
    for name, pod, container in containers(kinds=("Deployment", "Job")):
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        for path in ("/app/var", "/tmp"):
            assert "emptyDir" in volumes[mounts[path]], (name, path)


def test_web_copies_the_collected_static_files_into_its_empty_dir():
    # The image collects static files into /app/var/static, which the emptyDir hides.
    web = deployments()["shirube-web"]["spec"]["template"]["spec"]
    [init] = web["initContainers"]
    var_volume = next(m["name"] for m in web["containers"][0]["volumeMounts"] if m["mountPath"] == "/app/var")
    [mount] = init["volumeMounts"]
    assert mount["name"] == var_volume
    assert init["command"] == ["cp", "-R", "/app/var/static", mount["mountPath"] + "/"]
    assert "/app/var" not in {m["mountPath"] for m in init["volumeMounts"]}  # it reads the image's copy
    assert "collectstatic" in (ROOT / "Dockerfile").read_text()


def test_every_pre_stop_wait_fits_in_the_grace_period():
    for name, pod, container in containers():
        wait, grace = pre_stop_seconds(container), pod["terminationGracePeriodSeconds"]
        assert 0 < wait < grace, (name, wait, grace)


def test_the_grace_periods_cover_what_happens_after_sigterm():
    by_name = {name: (pod, c) for name, pod, c in containers()}
    pod, web = by_name["shirube-web"]
    graceful = int(option(web["command"], "--graceful-timeout"))
    assert pod["terminationGracePeriodSeconds"] > pre_stop_seconds(web) + graceful
    # Celery's warm shutdown lets the running sync finish: up to the soft limit + 30 s (tasks.py).
    pod, worker = by_name["shirube-worker"]
    soft_limit = int(config().get("SHIRUBE_SYNC_SOFT_TIME_LIMIT", "240"))
    assert pod["terminationGracePeriodSeconds"] > pre_stop_seconds(worker) + soft_limit + 30


def test_beat_runs_alone_and_web_rolls_without_losing_capacity():
    found = deployments()
    assert found["shirube-beat"]["spec"]["replicas"] == 1
    assert found["shirube-beat"]["spec"]["strategy"] == {"type": "Recreate"}
    rolling = found["shirube-web"]["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and found["shirube-web"]["spec"]["replicas"] >= 2
    for name, deployment in found.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), name


def test_the_service_and_the_pdb_select_only_the_web_pods():
    service, pdb = one("Service", "shirube-web"), one("PodDisruptionBudget", "shirube-web")
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments().items()}
    for selector in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        selected = {name for name, pod_labels in labels.items() if selector.items() <= pod_labels.items()}
        assert selected == {"shirube-web"}
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in ("http", 8000)


def test_the_migration_job_is_created_per_release_and_not_applied_with_the_kustomization():
    [job] = of_kind("Job")
    assert [p.name for p in job_files()] == ["migrate.yaml"]
    assert "name" not in job["metadata"] and job["metadata"]["generateName"] == "shirube-migrate-"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] >= 1
    [container] = pod["containers"]
    assert container["command"][:2] == ["sh", "-c"]
    assert container["command"][2].startswith("python manage.py migrate --no-input && ")
    assert "load_content" in container["command"][2]
    assert "jobs/migrate.yaml" not in kustomization()["resources"]


# --- configuration and secrets ----------------------------------------------------


def test_configuration_uses_only_the_settings_in_the_readme():
    allowed = readme_settings()
    assert set(config()) <= allowed, set(config()) - allowed
    for name, _, container in containers(kinds=("Deployment", "Job")):
        assert container["envFrom"] == [{"configMapRef": {"name": CONFIG_NAME}}], name
        for var in container["env"]:
            base = var["name"].removesuffix("_FILE")
            assert var["name"] in allowed or base in allowed, (name, var["name"])


def test_secrets_are_referenced_never_written():
    for name, pod, container in containers(kinds=("Deployment", "Job")):
        env = {var["name"]: var for var in container["env"]}
        assert "SECRET_KEY" not in env, name
        for var in FROM_SECRET_KEY_REF:
            assert env[var] == {
                "name": var,
                "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": var}},
            }, (name, var)
        # SECRET_KEY_FILE names the file of a mounted volume of the Secret's SECRET_KEY key.
        path = Path(env["SECRET_KEY_FILE"]["value"])
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
        assert mount["readOnly"] is True
        secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
        assert secret["secretName"] == SECRET_NAME
        assert {"key": "SECRET_KEY", "path": path.name} in secret["items"]
        assert secret["defaultMode"] == 0o440  # group-readable through fsGroup, by nobody else
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    assert not SECRET_SETTINGS & set(config())


def _strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_no_literal_secret_value_anywhere_in_deploy():
    credentials_in_url = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
    for doc in documents():
        assert "stringData" not in doc, doc["kind"]
        assert "data" not in doc or doc["kind"] == "ConfigMap", doc["kind"]
        for text in _strings(doc):
            assert not credentials_in_url.search(text), text
            assert "PRIVATE KEY" not in text and "password" not in text.lower(), text
    for _, _, container in every_container():
        for var in container.get("env") or []:
            if var["name"].removesuffix("_FILE") in SECRET_SETTINGS and "value" in var:
                assert var["name"].endswith("_FILE") and var["value"].startswith("/"), var


def test_the_settings_module_accepts_the_config_map(tmp_path):
    """Every value parses: a malformed one would stop each pod at start-up."""
    key_file = tmp_path / "SECRET_KEY"
    key_file.write_text("k" * 50)
    environ = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        **config(),
        "SECRET_KEY_FILE": str(key_file),
        "DATABASE_URL": "postgres://shirube@postgres.example:5432/shirube",
        "REDIS_URL": "redis://redis.example:6379/1",
        "CELERY_BROKER_URL": "redis://redis.example:6379/0",
    }
    script = (
        "import json, django\n"
        "django.setup()\n"
        "from django.conf import settings as s\n"
        "print(json.dumps({'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, 'secure': s.SESSION_COOKIE_SECURE,"
        " 'proxy': bool(getattr(s, 'SECURE_PROXY_SSL_HEADER', None)), 'var': str(s.VAR_DIR),"
        " 'interval': s.SHIRUBE_SYNC_INTERVAL, 'soft': s.SHIRUBE_SYNC_SOFT_TIME_LIMIT,"
        " 'ttl': s.SHIRUBE_SYNC_LOCK_TTL, 'key': s.SECRET_KEY == 'k' * 50}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["debug"] is False and values["secure"] is True and values["proxy"] is True
    assert "localhost" in values["hosts"] and values["var"] == "/app/var" and values["key"] is True
    assert values["interval"] == int(config()["SHIRUBE_SYNC_INTERVAL"])
    assert values["ttl"] > values["soft"] + 30  # the lock outlives a killed worker's hard limit


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"])
def test_docs_tell_how_to_create_each_secret_key(name):
    docs = (ROOT / "docs" / "deploy.md").read_text()
    assert SECRET_NAME in docs and name in docs
