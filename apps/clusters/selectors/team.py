"""Reads for the team, workload and pod pages: the last synced snapshot, never the Kubernetes API."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.conf import settings
from django.http import Http404
from django.utils import timezone

from apps.accounts.models import Team
from apps.clusters.links import DATADOG_PLACEHOLDERS, LOGS_PLACEHOLDERS, link_render
from apps.clusters.models import Cluster, Namespace, Pod, WarningEvent, Workload
from apps.clusters.objects import image_parse
from apps.clusters.problems import PROBLEMS
from apps.lessons.models import Lesson
from apps.lessons.selectors import lesson_for_reasons


@dataclass
class Freshness:
    """How fresh one cluster's data is. `error` and `kind_errors` are safe for any reader;
    the details and the skipped objects are for SREs (the template shows them to SREs only)."""

    cluster: Cluster
    age_seconds: int | None
    stale: bool
    error: str
    kind_errors: dict[str, str]
    error_detail: str = ""
    kind_error_details: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, dict] = field(default_factory=dict)

    @property
    def skipped_count(self) -> int:
        return sum(kind.get("count", 0) for kind in self.skipped.values())


def freshness(cluster: Cluster) -> Freshness:
    now = timezone.now()
    age = int((now - cluster.last_success_at).total_seconds()) if cluster.last_success_at else None
    stale = bool(cluster.last_error) or age is None or age > 4 * settings.SHIRUBE_SYNC_INTERVAL
    return Freshness(
        cluster, age, stale, cluster.last_error, cluster.kind_errors or {},
        cluster.last_error_detail, cluster.kind_error_details or {}, cluster.skipped_objects or {},
    )  # fmt: skip


@dataclass
class PodView:
    pod: Pod
    problem: object = None  # Problem
    lesson: Lesson | None = None
    tag: str = ""


@dataclass
class WorkloadView:
    workload: Workload
    pods: list[PodView] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return sum(1 for p in self.pods if p.problem)

    @property
    def tags(self) -> list[str]:
        return sorted({p.tag for p in self.pods if p.tag})

    @property
    def healthy(self) -> bool:
        w = self.workload
        ready_ok = w.desired is None or (w.ready or 0) >= (w.desired or 0)
        return not self.problems and ready_ok


@dataclass
class NamespaceView:
    cluster: Cluster
    namespace: Namespace
    workloads: list[WorkloadView] = field(default_factory=list)
    loose_pods: list[PodView] = field(default_factory=list)

    @property
    def problem_count(self) -> int:
        return sum(w.problems for w in self.workloads) + sum(1 for p in self.loose_pods if p.problem)


@dataclass
class TeamView:
    team: Team
    freshness: list[Freshness]
    namespaces: list[NamespaceView]
    problems: list[PodView]
    conflicts: list[Namespace]
    clusters: list[Cluster]
    pod_total: int
    filters: dict


def _pod_view(pod: Pod, lessons: dict[str, Lesson]) -> PodView:
    problem = PROBLEMS.get(pod.problem) if pod.problem else None
    lesson = None
    if problem:
        for reason in (pod.reason, pod.last_termination_reason, *problem.reasons):
            if reason and reason in lessons:
                lesson = lessons[reason]
                break
    return PodView(pod, problem, lesson, image_parse(pod.images[0]).shown if pod.images else "")


# What the team page shows: loading less keeps a 200-pod page fast.
_POD_LIST_FIELDS = (
    "cluster_id", "namespace", "name", "phase", "ready_containers", "total_containers",
    "restarts", "reason", "message", "last_termination_reason", "images", "workload_kind",
    "workload_name", "problem", "created", "node",
)  # fmt: skip
_WORKLOAD_LIST_FIELDS = ("cluster_id", "namespace", "name", "kind", "desired", "ready", "created")


def team_view(*, team: Team, cluster: str = "", namespace: str = "", status: str = "") -> TeamView:
    """Everything on the team page, in a fixed number of queries whatever the pod count."""
    namespaces = list(
        Namespace.objects.filter(team=team).select_related("cluster").order_by("cluster__name", "name")
    )
    clusters = sorted({ns.cluster for ns in namespaces}, key=lambda c: c.name)
    conflicts = list(
        Namespace.objects.filter(conflict__contains=[team.slug]).select_related("cluster")
    ) if _json_contains_supported() else [
        ns for ns in Namespace.objects.exclude(conflict=[]).select_related("cluster")
        if team.slug in ns.conflict
    ]  # fmt: skip
    shown = [
        ns for ns in namespaces
        if (not cluster or ns.cluster.name == cluster) and (not namespace or ns.name == namespace)
    ]  # fmt: skip
    by_cluster: dict[int, list[str]] = defaultdict(list)
    for ns in shown:
        by_cluster[ns.cluster_id].append(ns.name)
    lessons = lesson_for_reasons()
    pods_by_ns: dict[tuple[int, str], list[PodView]] = defaultdict(list)
    workloads_by_ns: dict[tuple[int, str], list[Workload]] = defaultdict(list)
    pod_total = 0
    cluster_by_id = {c.pk: c for c in clusters}
    for cluster_id, names in by_cluster.items():
        cluster_obj = cluster_by_id[cluster_id]
        rows = Pod.objects.filter(cluster_id=cluster_id, namespace__in=names).values(*_POD_LIST_FIELDS)
        for row in rows:
            # Plain rows, not model instances: a team page may list hundreds of pods.
            # The cluster is known already, so problem links cost no query each.
            pod = SimpleNamespace(**row, cluster=cluster_obj)
            pod_total += 1
            view = _pod_view(pod, lessons)
            if status == "problems" and not view.problem:
                continue
            pods_by_ns[(cluster_id, pod.namespace)].append(view)
        for workload in Workload.objects.filter(
            cluster_id=cluster_id, namespace__in=names, kind__in=Workload.TOP_KINDS
        ).only(*_WORKLOAD_LIST_FIELDS):
            workloads_by_ns[(cluster_id, workload.namespace)].append(workload)
    ns_views = []
    all_problems: list[PodView] = []
    for ns in shown:
        key = (ns.cluster_id, ns.name)
        views = {(w.kind, w.name): WorkloadView(w) for w in workloads_by_ns[key]}
        loose = []
        for pv in pods_by_ns[key]:
            target = views.get((pv.pod.workload_kind, pv.pod.workload_name))
            (target.pods if target else loose).append(pv)
            if pv.problem:
                all_problems.append(pv)
        workload_views = sorted(
            views.values(),
            key=lambda v: (v.healthy, v.workload.kind != "Deployment", v.workload.name),
        )
        if status == "problems":
            workload_views = [v for v in workload_views if not v.healthy]
        for v in workload_views:
            v.pods.sort(
                key=lambda p: (
                    p.problem is None,
                    p.problem.severity if p.problem else 9,
                    p.pod.name,
                )
            )
        ns_views.append(NamespaceView(ns.cluster, ns, workload_views, loose))
    ns_views.sort(key=lambda v: (v.problem_count == 0, v.cluster.name, v.namespace.name))
    all_problems.sort(key=lambda p: (p.problem.severity, p.pod.namespace, p.pod.name))
    return TeamView(
        team, [freshness(c) for c in clusters], ns_views, all_problems, conflicts, clusters,
        pod_total, {"cluster": cluster, "namespace": namespace, "status": status},
    )  # fmt: skip


def team_clusters(*, team: Team) -> list[Cluster]:
    """The clusters where the team owns a namespace (one query)."""
    return list(Cluster.objects.filter(pk__in=Namespace.objects.filter(team=team).values("cluster_id")))


def team_namespace_names(*, team: Team) -> list[str]:
    return sorted(set(Namespace.objects.filter(team=team).values_list("name", flat=True)))


def team_page_version(*, clusters: list[Cluster]) -> str:
    """Changes whenever a sync of one of these clusters finishes: the page's cache key."""
    return ",".join(f"{c.pk}:{c.last_sync_at.timestamp() if c.last_sync_at else 0}" for c in clusters)


def _json_contains_supported() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _team_namespace(team: Team, cluster_name: str, namespace: str) -> Namespace:
    ns = Namespace.objects.filter(team=team, cluster__name=cluster_name, name=namespace).select_related(
        "cluster"
    ).first()  # fmt: skip
    if ns is None:
        raise Http404("This namespace is not one of the team's")
    return ns


@dataclass
class WorkloadPage:
    team: Team
    namespace: Namespace
    workload: Workload
    pods: list[PodView]
    replicasets: list[Workload]
    events: list[WarningEvent]
    freshness: Freshness


def workload_page(*, team: Team, cluster: str, namespace: str, kind: str, name: str) -> WorkloadPage:
    ns = _team_namespace(team, cluster, namespace)
    workload = Workload.objects.filter(
        cluster=ns.cluster, namespace=namespace, kind__iexact=kind, name=name
    ).first()
    if workload is None:
        raise Http404("No such workload in the last sync")
    lessons = lesson_for_reasons()
    pods = [
        _pod_view(p, lessons)
        for p in Pod.objects.filter(
            cluster=ns.cluster, namespace=namespace, workload_kind=workload.kind, workload_name=name
        ).defer("spec")
    ]
    pods.sort(key=lambda p: (p.problem is None, p.pod.name))
    replicasets = []
    if workload.kind == "Deployment":
        replicasets = sorted(
            (
                rs
                for rs in Workload.objects.filter(cluster=ns.cluster, namespace=namespace, kind="ReplicaSet")
                if rs.owner.get("uid") == workload.uid
            ),
            key=lambda rs: rs.created or timezone.now(), reverse=True,
        )  # fmt: skip
    names = [name, *[p.pod.name for p in pods], *[rs.name for rs in replicasets]]
    events = list(
        WarningEvent.objects.filter(
            cluster=ns.cluster, namespace=namespace, involved_name__in=names
        ).order_by("-last_seen")[:50]
    )
    return WorkloadPage(team, ns, workload, pods, replicasets, events, freshness(ns.cluster))


@dataclass
class PodPage:
    team: Team
    namespace: Namespace
    view: PodView
    events: list[WarningEvent]
    freshness: Freshness
    logs_url: str
    datadog_url: str


def pod_page(*, team: Team, cluster: str, namespace: str, name: str) -> PodPage:
    ns = _team_namespace(team, cluster, namespace)
    pod = Pod.objects.filter(cluster=ns.cluster, namespace=namespace, name=name).first()
    if pod is None:
        raise Http404("No such pod in the last sync")
    view = _pod_view(pod, lesson_for_reasons())
    events = list(
        WarningEvent.objects.filter(cluster=ns.cluster, namespace=namespace, involved_name=name).order_by(
            "-last_seen"
        )[:50]
    )  # fmt: skip
    query = f'{{namespace="{namespace}", pod="{name}"}}'
    values = {"cluster": ns.cluster.name, "namespace": namespace, "pod": name, "query": query}
    return PodPage(
        team, ns, view, events, freshness(ns.cluster),
        link_render(ns.cluster.logs_url_template, LOGS_PLACEHOLDERS, **values),
        link_render(ns.cluster.datadog_url_template, DATADOG_PLACEHOLDERS, **values),
    )  # fmt: skip
