"""deploy/'s RBAC on a real kube-apiserver: enough for the whole sync, and nothing more.

The ServiceAccount, ClusterRole and ClusterRoleBinding are read from deploy/ and
applied as they are. The service account's token comes from the TokenRequest API,
the same kind of bound token a pod gets; every call below that is made "as the
service account" goes over HTTPS with that token, not through impersonation. Each
403 is paired with the same call made as admin, which succeeds, so the 403 comes
from RBAC and not from a malformed request.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kubernetes import client
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError

from apps.clusters import kube

pytestmark = pytest.mark.usefixtures("real_kube")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMESPACE = "shirube"
SA_NAME = "shirube"
SA_USER = f"system:serviceaccount:{NAMESPACE}:{SA_NAME}"
SA_CONTEXT = "shirube-sa"
STRICT = [("fieldValidation", "Strict")]  # an unknown or misspelt field is an error, not ignored
# Granted to every authenticated user by the server's default roles (system:basic-user).
DEFAULT_SELF_REVIEWS = {
    ("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
    ("authorization.k8s.io", "selfsubjectrulesreviews", "create"),
    ("authentication.k8s.io", "selfsubjectreviews", "create"),
}
FLUX_KINDS: dict[str, tuple[str, ...]] = getattr(kube, "FLUX_KINDS", {})  # read when the cluster serves them


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


SYNCED = {(spec.group, spec.plural) for spec in kube.KINDS} | {
    (group, _plural(kind)) for group, kinds in FLUX_KINDS.items() for kind in kinds
}
EXPECTED_GRANTS = {(group, resource, verb) for group, resource in SYNCED for verb in ("get", "list", "watch")}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _now(offset: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- deploy/ and the server ---------------------------------------------------------


def deploy_documents() -> list[dict]:
    """Every object of the kustomization, in its order."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return docs


def deploy_rbac() -> list[dict]:
    docs = [
        d for d in deploy_documents() if d["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}
    ]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
        ("ClusterRole", "shirube-sync"),
        ("ClusterRoleBinding", "shirube-sync"),
        ("ServiceAccount", SA_NAME),
    ]
    return docs


def ensure_namespace(admin: client.ApiClient, name: str, labels: dict | None = None) -> None:
    body = {"metadata": {"name": name, "labels": labels or {}}}
    try:
        client.CoreV1Api(admin).create_namespace(body)
    except ApiException as error:
        if error.status != 409:  # the session's server may already have it
            raise


def apply(dyn: DynamicClient, doc: dict, **kwargs):
    """Create the object, or replace it with this version when it exists (409)."""
    resource = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    namespace = doc["metadata"].get("namespace")
    try:
        return dyn.create(resource, body=doc, namespace=namespace, query_params=list(STRICT), **kwargs)
    except ConflictError:
        return dyn.replace(resource, body=doc, namespace=namespace, query_params=list(STRICT), **kwargs)


def wait_for_rbac(admin: client.ApiClient, user: str, checks: list[tuple[str, str, str, bool]]) -> None:
    """Wait until the authorizer's cache agrees with each (group, resource, verb, allowed)."""
    groups = [
        "system:serviceaccounts",
        f"system:serviceaccounts:{user.split(':')[2]}",
        "system:authenticated",
    ]
    authz = client.AuthorizationV1Api(admin)
    deadline, pending = time.monotonic() + 20, list(checks)
    while pending:
        pending = [
            (group, resource, verb, allowed)
            for group, resource, verb, allowed in pending
            if authz.create_subject_access_review(
                {
                    "spec": {
                        "user": user,
                        "groups": groups,
                        "resourceAttributes": {"group": group, "resource": resource, "verb": verb},
                    }
                }
            ).status.allowed
            is not allowed
        ]
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"RBAC for {user} did not settle within 20 s: {pending}")
        if pending:
            time.sleep(0.1)


def service_account_token(admin: client.ApiClient, namespace: str, name: str) -> str:
    """A bound token from the TokenRequest API (what the kubelet mounts into a pod)."""
    request = client.CoreV1Api(admin).create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}}
    )
    assert request.status.token
    return request.status.token


def write_kubeconfig(path: Path, real_kube, token: str, context: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "real-kube",
                "cluster": {"server": real_kube.server, "certificate-authority": str(real_kube.ca_file)},
            }
        ],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": "real-kube", "user": context}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def client_from(kubeconfig: Path, context: str) -> client.ApiClient:
    """An ApiClient loaded from a kubeconfig, the way apps/clusters/kube.py loads one."""
    configuration = client.Configuration()
    k8s_config.load_kube_config(
        config_file=str(kubeconfig), context=context, client_configuration=configuration, persist_config=False
    )
    return client.ApiClient(configuration)


def whoami(api: client.ApiClient) -> str:
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    )
    return review.status.user_info.username


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(real_kube) -> client.ApiClient:
    return real_kube.api_client()


@pytest.fixture(scope="module")
def dynamic(admin, tmp_path_factory) -> DynamicClient:
    return DynamicClient(admin, cache_file=str(tmp_path_factory.mktemp("discovery") / "cache.json"))


@pytest.fixture(scope="module")
def shirube_sa(real_kube, admin, dynamic, tmp_path_factory):
    """deploy/'s RBAC applied, and a kubeconfig with a real token of the `shirube` service account."""
    ensure_namespace(admin, NAMESPACE)
    docs = deploy_rbac()
    for doc in docs:
        apply(dynamic, doc)
    # Wait for what the file grants (not for what the tests expect: they are the judges).
    [role] = [d for d in docs if d["kind"] == "ClusterRole"]
    granted = [
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    ]
    wait_for_rbac(admin, SA_USER, [(g, r, v, True) for g, r, v in granted])
    token = service_account_token(admin, NAMESPACE, SA_NAME)
    kubeconfig = write_kubeconfig(tmp_path_factory.mktemp("sa") / "kubeconfig", real_kube, token, SA_CONTEXT)
    api = client_from(kubeconfig, SA_CONTEXT)
    assert whoami(api) == SA_USER  # the token authenticates as the service account itself
    return SimpleNamespace(kubeconfig=kubeconfig, context=SA_CONTEXT, api=api)


def _pod(name: str, **metadata) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app": name.split("-")[0]}, **metadata},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]},
    }


def _template(app: str, restart_policy: str = "Always") -> dict:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [{"name": "app", "image": f"registry.example/{app}:1.0"}],
        },
    }


def create_one_of_every_kind(admin: client.ApiClient, namespace: str) -> dict:
    """As admin: objects of every synced kind in `namespace`, with pod and event status written."""
    ensure_namespace(admin, namespace, labels={"team": "payments"})
    core, apps, batch = client.CoreV1Api(admin), client.AppsV1Api(admin), client.BatchV1Api(admin)
    selector = {"matchLabels": {"app": "web"}}
    deployment = apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": selector, "template": _template("web")},
        },
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": deployment.metadata.uid,
        "controller": True,
    }
    replica_set = apps.create_namespaced_replica_set(
        namespace,
        {
            "metadata": {"name": "web-7c9d8", "ownerReferences": [owner]},
            "spec": {"replicas": 2, "selector": selector, "template": _template("web")},
        },
    )
    apps.create_namespaced_stateful_set(
        namespace,
        {
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": _template("db"),
            },
        },
    )
    apps.create_namespaced_daemon_set(
        namespace,
        {
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": _template("agent")},
        },
    )
    batch.create_namespaced_job(
        namespace, {"metadata": {"name": "migrate"}, "spec": {"template": _template("migrate", "Never")}}
    )
    batch.create_namespaced_cron_job(
        namespace,
        {
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {"spec": {"template": _template("nightly", "OnFailure")}},
            },
        },
    )
    rs_owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web-7c9d8",
        "uid": replica_set.metadata.uid,
        "controller": True,
    }
    pod = core.create_namespaced_pod(namespace, _pod("web-7c9d8-x2k4p", ownerReferences=[rs_owner]))
    # No kubelet: the status is written through the status subresource, as a kubelet would.
    core.patch_namespaced_pod_status(
        pod.metadata.name,
        namespace,
        {
            "status": {
                "phase": "Running",
                "startTime": _now(-600),
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {
                        "name": "app",
                        "image": "registry.example/web:1.0",
                        "imageID": "",
                        "ready": False,
                        "started": False,
                        "restartCount": 7,
                        "state": {
                            "waiting": {
                                "reason": "CrashLoopBackOff",
                                "message": "back-off 5m0s restarting failed container",
                            }
                        },
                        "lastState": {
                            "terminated": {
                                "exitCode": 1,
                                "reason": "Error",
                                "startedAt": _now(-70),
                                "finishedAt": _now(-60),
                            }
                        },
                    }
                ],
            }
        },
    )
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "app"}})
    client.PolicyV1Api(admin).create_namespaced_pod_disruption_budget(
        namespace, {"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": selector}}
    )
    involved = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod.metadata.name,
        "namespace": namespace,
        "uid": pod.metadata.uid,
    }
    for name, kind, reason in (("web-backoff", "Warning", "BackOff"), ("web-pulled", "Normal", "Pulled")):
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"name": name},
                "involvedObject": involved,
                "type": kind,
                "reason": reason,
                "message": f"{reason} for {pod.metadata.name}",
                "count": 3,
                "firstTimestamp": _now(-300),
                "lastTimestamp": _now(-5),
                "source": {"component": "kubelet"},
            },
        )
    return {"pod": pod.metadata.name, "pod_uid": pod.metadata.uid}


def create_flux_objects(real_kube, admin: client.ApiClient, namespace: str) -> set[str]:
    """As admin, when the sync reads Flux and the session installed its CRDs: a GitRepository and a
    Kustomization in `namespace`. Returns the sync's keys for the Flux kinds the server serves."""
    if not FLUX_KINDS or not real_kube.flux_crds:
        return set()
    served = {tuple(name.split(".", 1)) for name in real_kube.flux_crds}  # "<plural>.<group>"
    keys = {plural for plural, group in served if (group, plural) in SYNCED}
    custom = client.CustomObjectsApi(admin)
    groups = {g.name: g.preferred_version.version for g in client.ApisApi(admin).get_api_versions().groups}
    source, kustomize = "source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io"
    custom.create_namespaced_custom_object(
        source, groups[source], namespace, "gitrepositories",
        {
            "apiVersion": f"{source}/{groups[source]}", "kind": "GitRepository", "metadata": {"name": "apps"},
            "spec": {"interval": "5m", "url": "https://git.example/apps.git", "ref": {"branch": "main"}},
        },
    )  # fmt: skip
    custom.create_namespaced_custom_object(
        kustomize, groups[kustomize], namespace, "kustomizations",
        {
            "apiVersion": f"{kustomize}/{groups[kustomize]}", "kind": "Kustomization", "metadata": {"name": "apps"},
            "spec": {"interval": "10m", "path": "./apps", "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "apps"}},
        },
    )  # fmt: skip
    return keys


def run_sync(kubeconfig: Path, context: str):
    from apps.clusters.services import cluster_declare
    from apps.clusters.sync import cluster_sync

    cluster, _ = cluster_declare(
        name=_unique("rbac"), connection="kubeconfig", kubeconfig_path=str(kubeconfig), context=context
    )
    return cluster, cluster_sync(cluster=cluster)


# --- the sync needs exactly this much --------------------------------------------------


@pytest.mark.django_db
def test_the_whole_sync_runs_as_the_service_account(real_kube, admin, shirube_sa, settings):
    from apps.clusters.models import (
        Namespace,
        Pod,
        PodDisruptionBudget,
        ServiceAccount,
        WarningEvent,
        Workload,
    )
    from apps.clusters.sync import PLANS

    settings.SHIRUBE_SYNC_PAGE_SIZE = 3  # many pages: `continue` tokens work for the service account too
    namespace = _unique("rbac-sync")
    created = create_one_of_every_kind(admin, namespace)
    flux = create_flux_objects(real_kube, admin, namespace)

    cluster, result = run_sync(shirube_sa.kubeconfig, shirube_sa.context)

    statuses = {key: (kind.status, kind.error) for key, kind in result.kinds.items()}
    expected = {spec.key for spec in kube.KINDS} | set(flux)
    assert statuses == {key: ("ok", "") for key in expected}
    assert {plan.spec.key for plan in PLANS} <= expected
    assert result.run.status == "ok" and result.run.error == ""
    cluster.refresh_from_db()
    assert cluster.last_error == "" and cluster.kind_errors == {} and cluster.last_success_at

    assert Namespace.objects.filter(cluster=cluster, name=namespace).exists()
    assert Namespace.objects.filter(cluster=cluster, name=NAMESPACE).exists()
    workloads = set(Workload.objects.filter(cluster=cluster, namespace=namespace).values_list("kind", "name"))
    assert workloads == {
        ("Deployment", "web"),
        ("ReplicaSet", "web-7c9d8"),
        ("StatefulSet", "db"),
        ("DaemonSet", "agent"),
        ("Job", "migrate"),
        ("CronJob", "nightly"),
    }
    pod = Pod.objects.get(cluster=cluster, namespace=namespace)
    assert (pod.name, pod.uid, pod.phase) == (created["pod"], created["pod_uid"], "Running")
    assert (pod.restarts, pod.reason, pod.problem) == (7, "CrashLoopBackOff", "CrashLoopBackOff")
    assert (pod.last_termination_reason, pod.last_exit_code) == ("Error", 1)
    assert (pod.workload_kind, pod.workload_name) == ("Deployment", "web")  # resolved through the ReplicaSet
    assert set(
        ServiceAccount.objects.filter(cluster=cluster, namespace=namespace).values_list("name", flat=True)
    ) == {"app"}
    assert ServiceAccount.objects.filter(cluster=cluster, namespace=NAMESPACE, name=SA_NAME).exists()
    pdb = PodDisruptionBudget.objects.get(cluster=cluster, namespace=namespace)
    assert (pdb.name, pdb.min_available) == ("web", "1")
    event = WarningEvent.objects.get(cluster=cluster, namespace=namespace)  # the Normal event is not synced
    assert (event.reason, event.involved_name, event.involved_uid, event.count) == (
        "BackOff",
        created["pod"],
        created["pod_uid"],
        3,
    )
    if flux:
        from apps.clusters.models import FluxObject

        rows = FluxObject.objects.filter(cluster=cluster, namespace=namespace)
        assert set(rows.values_list("kind", "name")) == {("GitRepository", "apps"), ("Kustomization", "apps")}


@pytest.mark.django_db
def test_a_role_without_some_kinds_fails_exactly_those_kinds_with_403(real_kube, admin, dynamic, tmp_path):
    """The control for the test above: a missing grant does show up as that kind's error."""
    [role] = [copy.deepcopy(d) for d in deploy_rbac() if d["kind"] == "ClusterRole"]
    suffix = uuid.uuid4().hex[:8]
    role["metadata"]["name"] = f"shirube-sync-partial-{suffix}"
    role["rules"] = [r for r in role["rules"] if r["apiGroups"] != ["policy"]]
    for rule in role["rules"]:
        rule["resources"] = [r for r in rule["resources"] if r != "events"]
    user = f"system:serviceaccount:{NAMESPACE}:partial-{suffix}"
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": role["metadata"]["name"]},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        },
        "subjects": [{"kind": "ServiceAccount", "name": f"partial-{suffix}", "namespace": NAMESPACE}],
    }
    ensure_namespace(admin, NAMESPACE)
    client.CoreV1Api(admin).create_namespaced_service_account(
        NAMESPACE, {"metadata": {"name": f"partial-{suffix}"}}
    )
    rbac = client.RbacAuthorizationV1Api(admin)
    try:
        apply(dynamic, role)
        apply(dynamic, binding)
        wait_for_rbac(admin, user, [("", "pods", "list", True), ("", "events", "list", False)])
        token = service_account_token(admin, NAMESPACE, f"partial-{suffix}")
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", real_kube, token, "partial")

        _, result = run_sync(kubeconfig, "partial")
    finally:
        for delete, name in (
            (rbac.delete_cluster_role_binding, binding["metadata"]["name"]),
            (rbac.delete_cluster_role, role["metadata"]["name"]),
        ):
            try:
                delete(name)
            except ApiException as error:
                if error.status != 404:  # not created: the original failure is the one to see
                    raise

    failed = {key: kind.error for key, kind in result.kinds.items() if kind.status != "ok"}
    assert set(failed) == {"events", "poddisruptionbudgets"}
    for key, error in failed.items():
        assert error.startswith("403 ") and user in error, (key, error)
    assert result.run.status == "partial"


def rules_review(api: client.ApiClient, namespace: str) -> tuple[set, set]:
    """What the authorizer says `api`'s identity may do in `namespace` (cluster-wide grants included)."""
    review = client.AuthorizationV1Api(api).create_self_subject_rules_review(
        {"spec": {"namespace": namespace}}
    )
    assert review.status.incomplete is False
    assert all(not rule.resource_names for rule in review.status.resource_rules)
    grants = {
        (group, resource, verb)
        for rule in review.status.resource_rules
        for group in rule.api_groups or []
        for resource in rule.resources or []
        for verb in rule.verbs
    }
    urls = {
        (url, verb)
        for rule in review.status.non_resource_rules
        for url in rule.non_resource_urls
        for verb in rule.verbs
    }
    return grants, urls


def test_the_service_account_may_do_what_the_role_says_and_what_everyone_may(real_kube, admin, shirube_sa):
    """The sync's reads, plus the server's defaults for every authenticated user, and nothing else."""
    namespace = _unique("rbac-rules")
    ensure_namespace(admin, namespace)
    grants, urls = rules_review(shirube_sa.api, namespace)
    # A service account bound to nothing (impersonated: the server adds the same groups).
    nobody = real_kube.api_client(impersonate=f"system:serviceaccount:{NAMESPACE}:{_unique('nobody')}")
    baseline_grants, baseline_urls = rules_review(nobody, namespace)

    assert grants - baseline_grants == EXPECTED_GRANTS
    assert urls == baseline_urls  # the role adds no non-resource URL
    # ...and the defaults are what we think they are (otherwise the difference could hide something).
    # (Recent releases also let everyone read ClusterTrustBundles: they hold public CA certificates.)
    assert baseline_grants == DEFAULT_SELF_REVIEWS | {
        ("certificates.k8s.io", "clustertrustbundles", verb) for verb in ("get", "list", "watch")
    }
    assert {verb for _, verb in baseline_urls} == {"get"}  # discovery, /version, /healthz…: read only


# --- ... and not more ------------------------------------------------------------------


@pytest.fixture(scope="module")
def target(admin):
    """A namespace with a secret, a configmap, a deployment and a pod, all created as admin."""
    namespace = _unique("rbac-deny")
    ensure_namespace(admin, namespace)
    core = client.CoreV1Api(admin)
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "db-credentials"}, "stringData": {"password": "hunter2"}}
    )
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"LOG_LEVEL": "debug"}}
    )
    client.AppsV1Api(admin).create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": _template("web"),
            },
        },
    )
    core.create_namespaced_pod(namespace, _pod("target"))
    return namespace


def _deployment(name: str) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": _template(name)},
    }


def _impersonating(api: client.ApiClient, user: str) -> client.ApiClient:
    return client.ApiClient(api.configuration, header_name="Impersonate-User", header_value=user)


# (id, verb, resource as RBAC names it, needs a pod of its own, call(api, namespace, tag))
FORBIDDEN = [
    ("list-secrets", "list", "secrets", False, lambda api, ns, tag: client.CoreV1Api(api).list_namespaced_secret(ns)),
    ("list-secrets-everywhere", "list", "secrets", False, lambda api, ns, tag: client.CoreV1Api(api).list_secret_for_all_namespaces()),
    ("read-secret", "get", "secrets", False, lambda api, ns, tag: client.CoreV1Api(api).read_namespaced_secret("db-credentials", ns)),
    ("read-configmap", "get", "configmaps", False, lambda api, ns, tag: client.CoreV1Api(api).read_namespaced_config_map("settings", ns)),
    ("list-configmaps-everywhere", "list", "configmaps", False, lambda api, ns, tag: client.CoreV1Api(api).list_config_map_for_all_namespaces()),
    ("delete-pod", "delete", "pods", True, lambda api, ns, tag: client.CoreV1Api(api).delete_namespaced_pod(f"victim-{tag}", ns)),
    ("evict-pod", "create", "pods/eviction", True, lambda api, ns, tag: client.CoreV1Api(api).create_namespaced_pod_eviction(
        f"victim-{tag}", ns, {"metadata": {"name": f"victim-{tag}", "namespace": ns}})),
    ("write-pod-status", "patch", "pods/status", False, lambda api, ns, tag: client.CoreV1Api(api).patch_namespaced_pod_status(
        "target", ns, {"status": {"message": tag}})),
    ("patch-deployment", "patch", "deployments", False, lambda api, ns, tag: client.AppsV1Api(api).patch_namespaced_deployment(
        "web", ns, {"metadata": {"labels": {"patched": tag}}})),
    ("scale-deployment", "patch", "deployments/scale", False, lambda api, ns, tag: client.AppsV1Api(api).patch_namespaced_deployment_scale(
        "web", ns, {"spec": {"replicas": 2}})),
    ("create-pod", "create", "pods", False, lambda api, ns, tag: client.CoreV1Api(api).create_namespaced_pod(ns, _pod(f"new-{tag}"))),
    ("create-configmap", "create", "configmaps", False, lambda api, ns, tag: client.CoreV1Api(api).create_namespaced_config_map(
        ns, {"metadata": {"name": f"new-{tag}"}, "data": {"a": "b"}})),
    ("create-secret", "create", "secrets", False, lambda api, ns, tag: client.CoreV1Api(api).create_namespaced_secret(
        ns, {"metadata": {"name": f"new-{tag}"}, "stringData": {"a": "b"}})),
    ("create-deployment", "create", "deployments", False, lambda api, ns, tag: client.AppsV1Api(api).create_namespaced_deployment(
        ns, _deployment(f"new-{tag}"))),
    ("create-service-account-token", "create", "serviceaccounts/token", False,
        lambda api, ns, tag: client.CoreV1Api(api).create_namespaced_service_account_token(
            SA_NAME, NAMESPACE, {"spec": {"expirationSeconds": 600}})),
    ("create-namespace", "create", "namespaces", False, lambda api, ns, tag: client.CoreV1Api(api).create_namespace(
        {"metadata": {"name": f"new-{tag}"}})),
    ("create-cluster-role-binding", "create", "clusterrolebindings", False,
        lambda api, ns, tag: client.RbacAuthorizationV1Api(api).create_cluster_role_binding({
            "metadata": {"name": f"new-{tag}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": f"nobody-{tag}", "apiGroup": "rbac.authorization.k8s.io"}],
        })),
    ("impersonate", "impersonate", "users", False, lambda api, ns, tag: client.AuthenticationV1Api(
        _impersonating(api, f"someone-{tag}")).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})),
]  # fmt: skip


@pytest.mark.parametrize(
    ("verb", "resource", "own_pod", "call"), [f[1:] for f in FORBIDDEN], ids=[f[0] for f in FORBIDDEN]
)
def test_the_service_account_is_forbidden_what_admin_may_do(
    admin, shirube_sa, target, verb, resource, own_pod, call
):
    tag = uuid.uuid4().hex[:8]
    if own_pod:
        client.CoreV1Api(admin).create_namespaced_pod(target, _pod(f"victim-{tag}"))

    with pytest.raises(ApiException) as denied:
        call(shirube_sa.api, target, tag)
    assert denied.value.status == 403, denied.value.body
    message = json.loads(denied.value.body)["message"]
    # Kubernetes 1.37 checks constrained impersonation ("impersonate-on:…") before the legacy verb.
    expected = "cannot impersonate" if verb == "impersonate" else f'cannot {verb} resource "{resource}"'
    assert f'User "{SA_USER}" {expected}' in message, message

    call(admin, target, tag)  # the control: the same request is fine for admin


# --- the rest of deploy/ on the same server ----------------------------------------------


def job_documents() -> list[dict]:
    """The one-shot Jobs of deploy/jobs/ (created by hand per release, not by the kustomization)."""
    return [
        d for path in sorted(DEPLOY.glob("jobs/*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d
    ]


def test_every_deploy_manifest_is_accepted_by_the_real_api_server(dynamic, shirube_sa):
    """Server-side dry run with strict field validation: the real schema, and no misspelt field."""
    documents = deploy_documents() + job_documents()
    applied = [apply(dynamic, doc, dry_run="All") for doc in documents]
    assert [a.kind for a in applied] == [d["kind"] for d in documents]
    assert {"Job", "Deployment", "ClusterRole"} <= {a.kind for a in applied}
    web = next(a for a in applied if a.kind == "Deployment" and a.metadata.name == "shirube-web")
    [container] = web.spec.template.spec.containers
    assert container.lifecycle.preStop.sleep.seconds == 10  # the native sleep action is served


def test_the_pods_meet_the_restricted_pod_security_standard(admin):
    namespace = _unique("rbac-psa")
    ensure_namespace(
        admin,
        namespace,
        labels={
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    )
    core = client.CoreV1Api(admin)
    pods = [
        {
            "metadata": {"generateName": "psa-", "labels": doc["spec"]["template"]["metadata"]["labels"]},
            "spec": doc["spec"]["template"]["spec"],
        }
        for doc in deploy_documents() + job_documents()
        if doc["kind"] in {"Deployment", "Job"}
    ]
    assert len(pods) == 5  # web, worker, watch, beat and the migration Job
    for pod in pods:
        core.create_namespaced_pod(namespace, pod, dry_run="All")

    # The control: without its security contexts, the same pod is refused by the same admission.
    loose = copy.deepcopy(pods[0])
    del loose["spec"]["securityContext"]
    for container in loose["spec"]["containers"] + loose["spec"].get("initContainers", []):
        del container["securityContext"]
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, loose, dry_run="All")
    assert refused.value.status == 403 and "violates PodSecurity" in refused.value.body
