"""Production-readiness rules: plain functions over one synced workload, in a registry.

Each rule reads a `Subject` (the reduced workload as the sync stored it, its
running pods, the service accounts and PodDisruptionBudgets of its namespace)
and returns None when it does not apply, or a list of problems: empty means
the workload passes. Nothing here touches the database, so the rules are
tested on the reducers' output for real Kubernetes JSON and run in bulk fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from apps.clusters.objects import image_parse

SERVING_KINDS = ("Deployment", "StatefulSet")
SEVERITIES = {"high": 0, "medium": 1, "low": 2}

ROLE_ARN = "eks.amazonaws.com/role-arn"
STS_ANNOTATION = "eks.amazonaws.com/sts-regional-endpoints"
IGNORE_RULES = "shirube.io/ignore-rules"
IGNORE_REASON = "shirube.io/ignore-reason"


@dataclass
class Subject:
    """One workload as the rules see it. Dicts are the reducers' output (apps.clusters.reduce)."""

    kind: str
    namespace: str
    name: str
    template: dict
    annotations: dict = field(default_factory=dict)
    desired: int | None = None
    pods: list[dict] = field(default_factory=list)  # reduced pods: spec, annotations, labels, ...
    service_accounts: dict[str, dict] = field(default_factory=dict)  # name -> annotations
    pdb_selectors: list[dict] = field(default_factory=list)  # the namespace's PDB label selectors
    production: bool = False
    restarts_24h: int = 0

    @property
    def containers(self) -> list[dict]:
        return self.template.get("containers") or []

    @property
    def serving_containers(self) -> list[dict]:
        """Containers that declare ports in a Deployment or StatefulSet (init containers never serve)."""
        if self.kind not in SERVING_KINDS:
            return []
        return [c for c in self.containers if c.get("ports")]

    @property
    def pod_annotations(self) -> dict:
        """Template annotations, then the running pods' (what a scraper actually sees)."""
        merged = dict(self.annotations)
        merged.update((self.template.get("metadata") or {}).get("annotations") or {})
        for pod in self.pods:
            merged.update(pod.get("annotations") or {})
        return merged

    @property
    def pod_labels(self) -> list[dict]:
        labels = [pod.get("labels") or {} for pod in self.pods]
        template_labels = (self.template.get("metadata") or {}).get("labels")
        return labels or ([template_labels] if template_labels else [])


Result = list[str] | None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    rationale: str
    fix: str
    snippet: str
    lesson: str  # slug of the lesson to fall back on when no lesson names this rule
    check: Callable[[Subject], Result]


RULES: dict[str, Rule] = {}


def rule(**meta: str) -> Callable[[Callable[[Subject], Result]], Callable[[Subject], Result]]:
    def register(check: Callable[[Subject], Result]) -> Callable[[Subject], Result]:
        RULES[meta["id"]] = Rule(check=check, **meta)
        return check

    return register


def evaluate(subject: Subject) -> dict[str, list[str]]:
    """rule id -> problems (empty: passes) for every rule that applies to the subject."""
    results = {}
    for rule_id, r in RULES.items():
        outcome = r.check(subject)
        if outcome is not None:
            results[rule_id] = outcome
    return results


def ignored_rules(annotations: dict) -> set[str]:
    """The rule ids a `shirube.io/ignore-rules` annotation names ("*" for all)."""
    value = (annotations or {}).get(IGNORE_RULES, "")
    ids = {part for part in re.split(r"[\s,]+", value) if part}
    return set(RULES) if "*" in ids else ids & set(RULES)


# -- helpers ------------------------------------------------------------------

_SLEEP = re.compile(r"(?:^|[\s;&|])sleep\s+(\d+(?:\.\d+)?)s?\b")


def pre_stop_wait(pre_stop: dict) -> int | None:
    """Seconds a preStop hook waits: the native sleep, or `sleep N` in an exec command; None if unknown."""
    if pre_stop.get("type") == "sleep":
        seconds = pre_stop.get("seconds")
        return int(seconds) if isinstance(seconds, int | float) else None
    if pre_stop.get("type") == "exec":
        match = _SLEEP.search(pre_stop.get("command") or "")
        return int(float(match.group(1))) if match else None
    return None


def selector_matches(selector: dict, labels: dict) -> bool:
    """Kubernetes label-selector semantics; an empty selector matches every pod (policy/v1)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _env(container: dict) -> dict[str, str | None]:
    return {e.get("name", ""): e.get("value") for e in container.get("env") or []}


def _names(containers: list[dict]) -> str:
    return ", ".join(c.get("name", "?") for c in containers)


# -- the rules ----------------------------------------------------------------


@rule(
    id="graceful-termination",
    title="Graceful termination",
    severity="high",
    rationale="Endpoints are removed while the pod is already stopping; without a preStop wait, "
    "requests still routed to it fail during every rollout and node drain.",
    fix="Add a preStop hook that waits for the load balancer to deregister the pod, and a grace "
    "period that covers that wait plus the app's own shutdown.",
    snippet="spec:\n  terminationGracePeriodSeconds: 45\n  containers:\n    - name: app\n"
    "      lifecycle:\n        preStop:\n          sleep:\n            seconds: 15",
    lesson="graceful-termination",
)
def graceful_termination(s: Subject) -> Result:
    serving = s.serving_containers
    if not serving:
        return None
    margin = settings.SHIRUBE_READINESS_GRACE_MARGIN
    grace = s.template.get("terminationGracePeriodSeconds")
    grace = 30 if grace is None else grace
    problems = []
    for c in serving:
        pre_stop = c.get("preStop")
        if not pre_stop or pre_stop.get("type") == "unknown":
            problems.append(f"container {c['name']} has no preStop hook")
            continue
        wait = pre_stop_wait(pre_stop) or 0
        if grace < wait + margin:
            problems.append(
                f"container {c['name']}: terminationGracePeriodSeconds {grace} does not exceed "
                f"the preStop wait ({wait}s) by {margin}s"
            )
    return problems


@rule(
    id="readiness-probe",
    title="Readiness probe",
    severity="high",
    rationale="Without a readiness probe a pod receives traffic as soon as its process starts, "
    "and a rollout counts it ready before it can answer.",
    fix="Give every serving container a readiness probe on an endpoint that answers only when the "
    "app can serve.",
    snippet="readinessProbe:\n  httpGet:\n    path: /readyz\n    port: http\n  periodSeconds: 10\n"
    "  failureThreshold: 3",
    lesson="probes",
)
def readiness_probe(s: Subject) -> Result:
    serving = s.serving_containers
    if not serving:
        return None
    missing = [c for c in serving if not c.get("readinessProbe")]
    return [f"no readiness probe on {_names(missing)}"] if missing else []


@rule(
    id="liveness-probe",
    title="Liveness probe, distinct from readiness",
    severity="medium",
    rationale="A hung process is restarted only by a liveness probe; one identical to the readiness "
    "probe turns every 'not ready right now' into a restart.",
    fix="Add a liveness probe on a different endpoint, or at least far more patient than readiness.",
    snippet="livenessProbe:\n  httpGet:\n    path: /livez\n    port: http\n  initialDelaySeconds: 15\n"
    "  failureThreshold: 6",
    lesson="probes",
)
def liveness_probe(s: Subject) -> Result:
    serving = s.serving_containers
    if not serving:
        return None
    problems = []
    for c in serving:
        liveness = c.get("livenessProbe")
        if not liveness:
            problems.append(f"no liveness probe on {c['name']}")
        elif liveness == c.get("readinessProbe"):
            problems.append(f"container {c['name']}: the liveness probe is identical to the readiness probe")
    return problems


@rule(
    id="resource-requests",
    title="CPU and memory requests",
    severity="medium",
    rationale="The scheduler places pods by their requests; without them pods land on full nodes "
    "and are the first evicted under pressure.",
    fix="Set CPU and memory requests on every container from what it uses at normal load.",
    snippet="resources:\n  requests:\n    cpu: 250m\n    memory: 256Mi",
    lesson="requests-limits-oomkilled",
)
def resource_requests(s: Subject) -> Result:
    if not s.containers:
        return None
    problems = []
    for c in s.containers:
        requests = (c.get("resources") or {}).get("requests") or {}
        missing = [r for r in ("cpu", "memory") if not requests.get(r)]
        if missing:
            problems.append(f"container {c['name']} has no {' or '.join(missing)} request")
    return problems


@rule(
    id="memory-limit",
    title="Memory limit",
    severity="medium",
    rationale="A container without a memory limit can take a node's memory from its neighbours "
    "until the kernel kills whatever it picks.",
    fix="Set a memory limit on every container, at or above its request.",
    snippet="resources:\n  limits:\n    memory: 512Mi",
    lesson="requests-limits-oomkilled",
)
def memory_limit(s: Subject) -> Result:
    if not s.containers:
        return None
    missing = [c for c in s.containers if not ((c.get("resources") or {}).get("limits") or {}).get("memory")]
    return [f"no memory limit on {_names(missing)}"] if missing else []


@rule(
    id="sts-regional-endpoints",
    title="STS regional endpoints for IRSA",
    severity="high",
    rationale="With IRSA, every credential refresh calls STS; the global endpoint is slower and a "
    "single region's outage away from failing, which made our periodic AWS calls slow.",
    fix="Annotate the service account so the EKS webhook injects AWS_STS_REGIONAL_ENDPOINTS=regional, "
    "then restart the pods (or set the variable on the containers).",
    snippet="apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  annotations:\n"
    "    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/my-app\n"
    '    eks.amazonaws.com/sts-regional-endpoints: "true"',
    lesson="irsa-and-sts-regional-endpoints",
)
def sts_regional_endpoints(s: Subject) -> Result:
    # The webhook injects AWS_ROLE_ARN at admission: the running pods and the service
    # account tell the truth, the template does not. Pod Identity sets other variables.
    accounts = {pod.get("service_account") or "default" for pod in s.pods}
    if not s.pods:
        accounts = {s.template.get("serviceAccountName") or "default"}
    sa_role = {a for a in accounts if ROLE_ARN in s.service_accounts.get(a, {})}
    sa_regional = {
        a for a in accounts if str(s.service_accounts.get(a, {}).get(STS_ANNOTATION, "")).lower() == "true"
    }
    specs = [pod.get("spec") or {} for pod in s.pods] or [s.template]
    containers = [c for spec in specs for c in spec.get("containers") or []]
    irsa = [c for c in containers if "AWS_ROLE_ARN" in _env(c)]
    if not sa_role and not irsa:
        return None
    if sa_role and sa_role <= sa_regional:
        return []
    candidates = irsa or containers
    legacy = sorted(
        {c["name"] for c in candidates if _env(c).get("AWS_STS_REGIONAL_ENDPOINTS") != "regional"}
    )
    if not legacy:
        return []
    return [
        f"IRSA (service account {', '.join(sorted(accounts))}) without AWS_STS_REGIONAL_ENDPOINTS=regional "
        f"in {', '.join(legacy)}: credentials come from the global STS endpoint"
    ]


def _datadog_checks(annotations: dict) -> bool:
    return any(
        key.startswith("ad.datadoghq.com/") and key.endswith((".checks", ".check_names")) and value
        for key, value in annotations.items()
    )


@rule(
    id="metrics-exposed",
    title="Metrics scraped for monitoring",
    severity="medium",
    rationale="A component nobody scrapes fails quietly: it logs an error and retries until an "
    "app breaks. Monitoring belongs in the change that installs it.",
    fix="Declare the metrics endpoint to Datadog Autodiscovery (or Prometheus) on the pod template: "
    "the key names the container, and the list names only the metrics you chart or alert on "
    "(counters without _total); a catch-all pattern bills every series as a custom metric.",
    snippet="spec:\n  template:\n    metadata:\n      annotations:\n"
    "        ad.datadoghq.com/app.checks: |\n"
    '          {"openmetrics": {"init_config": {}, "instances": [{"openmetrics_endpoint": '
    '"http://%%host%%:8080/metrics", "namespace": "app",'
    ' "metrics": ["http_requests", "http_request_duration_seconds"]}]}}',
    lesson="monitor-system-components",
)
def metrics_exposed(s: Subject) -> Result:
    if s.kind not in (*SERVING_KINDS, "DaemonSet") or not any(c.get("ports") for c in s.containers):
        return None
    annotations = s.pod_annotations
    if str(annotations.get("prometheus.io/scrape", "")).lower() == "true" or _datadog_checks(annotations):
        return []
    return ["no Prometheus scrape or Datadog Autodiscovery check annotations on the pods"]


@rule(
    id="image-pinned",
    title="Image pinned to a version",
    severity="medium",
    rationale="`latest` or no tag means a restart can pull different code than the rollout "
    "tested, and a rollback has nothing to go back to.",
    fix="Deploy an immutable version tag or a digest.",
    snippet="image: registry.example.com/team/app:v1.4.2\n"
    "# or: registry.example.com/team/app@sha256:<digest>",
    lesson="deployments-and-rollouts",
)
def image_pinned(s: Subject) -> Result:
    containers = s.containers + (s.template.get("initContainers") or [])
    if not containers:
        return None
    loose = [c for c in containers if not image_parse(c.get("image") or "").pinned]
    return [f"container {c['name']} runs {c.get('image') or 'no image'} (not pinned)" for c in loose]


@rule(
    id="replicas-and-pdb",
    title="Replicas and a PodDisruptionBudget in production",
    severity="high",
    rationale="Node drains during cluster upgrades evict pods; one replica, or no budget, means "
    "an outage at every upgrade.",
    fix="Run at least 2 replicas and a PodDisruptionBudget that selects the pods and still allows "
    "one disruption.",
    snippet="apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: app\nspec:\n"
    "  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app: app",
    lesson="cluster-upgrades-terraform",
)
def replicas_and_pdb(s: Subject) -> Result:
    if s.kind != "Deployment" or not s.production:
        return None
    problems = []
    if (s.desired or 0) < 2:
        problems.append(f"{s.desired or 0} replica{'s' if s.desired != 1 else ''}, fewer than 2")
    labels = s.pod_labels
    covered = labels and any(selector_matches(sel, lab) for sel in s.pdb_selectors for lab in labels)
    if not covered:
        problems.append("no PodDisruptionBudget selects its pods")
    return problems


@rule(
    id="restarts",
    title="Few restarts in the last 24 hours",
    severity="medium",
    rationale="Restarts are failures the platform hid from you: crashes, OOM kills, failed "
    "liveness probes. Each one drops the requests in flight.",
    fix="Open a restarting pod, read its last termination reason and logs, and fix the cause.",
    snippet="kubectl describe pod <pod>   # Last State: Terminated, Reason, Exit Code\n"
    "kubectl logs <pod> --previous",
    lesson="debugging-failing-pods",
)
def restarts(s: Subject) -> Result:
    if not s.pods and not s.restarts_24h:
        return None
    threshold = settings.SHIRUBE_READINESS_RESTARTS_24H
    if s.restarts_24h > threshold:
        return [f"{s.restarts_24h} restarts in the last 24 hours (more than {threshold})"]
    return []
