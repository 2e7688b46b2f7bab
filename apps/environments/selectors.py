"""Reads for environment pages: git state (refreshed by a task) and the last synced cluster state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from apps.accounts.models import Team
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_events
from apps.clusters.models import FluxObject, Namespace, Pod
from apps.clusters.objects import image_parse
from apps.environments.models import Approval, Deployment, Environment


@dataclass
class Live:
    """What the cluster runs for one environment, from the last sync."""

    state: str  # healthy, rolling out, waiting for Flux, drifted, failing, no pods, unknown
    running: Counter = field(default_factory=Counter)  # tag -> pods
    ready: int = 0
    total: int = 0
    kustomization: FluxObject | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def tags(self) -> list[tuple[str, int]]:
        return self.running.most_common()

    @property
    def healthy_tag(self) -> str | None:
        return next(iter(self.running)) if self.state == "healthy" else None


def revision_has(revision: str, sha: str) -> bool:
    """Whether a Flux revision (`main@sha1:<sha>`, or the older `main/<sha>`) names this commit."""
    return bool(sha) and (revision.endswith(sha) or f"sha1:{sha}" in revision or f"/{sha}" in revision)


def environment_live(environment: Environment, *, pods=None, kustomizations=None) -> Live:
    """Healthy when every pod of the image runs git's tag and is ready; failing when Flux says so."""
    if kustomizations is None:
        kustomizations = _kustomizations([environment])
    kustomization = kustomizations.get(
        (environment.cluster_id, environment.kustomization_namespace, environment.kustomization_name)
    )
    if pods is None:
        pods = Pod.objects.filter(cluster_id=environment.cluster_id, namespace=environment.namespace)
    live = Live("unknown", kustomization=kustomization)
    for pod in pods:
        tags = [ref.tag for ref in map(image_parse, pod.images) if ref.repository == environment.image]
        if not tags:
            continue
        live.total += 1
        live.running[tags[0]] += 1
        if pod.phase == "Running" and pod.ready_containers == pod.total_containers:
            live.ready += 1
        elif pod.reason:
            live.problems.append(f"{pod.name}: {pod.reason}")
    if kustomization and kustomization.ready_status == "False":
        live.state = "failing"
    elif not live.total:
        live.state = "no pods"
    elif set(live.running) == {environment.git_tag} and live.ready == live.total:
        # Judged by the pods, not by the commit: the Kustomization applies the whole
        # repository, so its revision moves with every commit, to any path.
        live.state = "healthy"
    elif environment.git_tag and not revision_has(
        kustomization.last_applied_revision if kustomization else "", environment.git_sha
    ):
        live.state = "waiting for Flux"
    elif environment.git_tag and environment.git_tag not in live.running:
        live.state = "drifted"
    else:
        live.state = "rolling out"
    return live


def source_healthy_tag(environment: Environment) -> str | None:
    """The tag the environment promotes from runs healthy, if it does."""
    source = environment.promotes_from
    return environment_live(source).healthy_tag if source else None


def _kustomizations(environments: list[Environment]) -> dict[tuple, FluxObject]:
    clusters = {e.cluster_id for e in environments}
    names = {e.kustomization_name for e in environments}
    rows = FluxObject.objects.filter(cluster_id__in=clusters, kind="Kustomization", name__in=names)
    return {(k.cluster_id, k.namespace, k.name): k for k in rows}


@dataclass
class EnvironmentRow:
    environment: Environment
    live: Live
    last: Deployment | None
    pending: list[Approval] = field(default_factory=list)  # approval requests still open


def team_environments(*, team: Team) -> list[EnvironmentRow]:
    """Every environment of a team with its live state; a fixed number of queries."""
    environments = list(
        Environment.objects.filter(team=team).select_related("cluster", "promotes_from", "pinned_by")
    )
    if not environments:
        return []
    kustomizations = _kustomizations(environments)
    pods: dict[tuple, list[Pod]] = {}
    scopes = {(e.cluster_id, e.namespace) for e in environments}
    query = Pod.objects.none()
    for cluster_id, namespace in scopes:
        query = query | Pod.objects.filter(cluster_id=cluster_id, namespace=namespace)
    for pod in query.only("cluster_id", "namespace", "name", "images", "phase", "ready_containers",
                          "total_containers", "reason"):  # fmt: skip
        pods.setdefault((pod.cluster_id, pod.namespace), []).append(pod)
    last: dict[int, Deployment] = {}
    for deployment in Deployment.objects.filter(environment__in=environments).select_related("requested_by"):
        last.setdefault(deployment.environment_id, deployment)
    pending: dict[int, list[Approval]] = {}
    open_requests = Approval.objects.filter(
        environment__in=environments,
        approved_at__isnull=True,
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("requested_by")
    for approval in open_requests:
        pending.setdefault(approval.environment_id, []).append(approval)
    return [
        EnvironmentRow(
            e,
            environment_live(
                e, pods=pods.get((e.cluster_id, e.namespace), []), kustomizations=kustomizations
            ),
            last.get(e.pk),
            pending.get(e.pk, []),
        )
        for e in environments
    ]


def environment_get(*, team: Team, slug: str) -> Environment:
    app, _, stage = slug.rpartition("-")  # stages hold no "-"; apps may
    environment = (
        Environment.objects.filter(team=team, app=app, stage=stage)
        .select_related("cluster", "team", "promotes_from", "promotes_from__cluster", "pinned_by")
        .first()
    )
    if environment is None:
        raise Http404("No such environment")
    return environment


@dataclass
class NewestTags:
    policy_tag: str = ""  # what the ImagePolicy picked
    seen: list[str] = field(default_factory=list)  # the ImageRepository's newest tags
    scan_time: str = ""
    tag_count: int | None = None

    @property
    def complete(self) -> bool:
        """The scan listed every tag it found, so a tag missing from it does not exist."""
        return self.tag_count is not None and self.tag_count <= len(self.seen)


def newest_tags(environment: Environment) -> NewestTags:
    result = NewestTags()
    lookups = []
    if environment.image_policy:
        ns, _, name = environment.image_policy.partition(":")
        lookups.append(("ImagePolicy", ns, name))
    if environment.image_repository:
        ns, _, name = environment.image_repository.partition("/")
        lookups.append(("ImageRepository", ns, name))
    for kind, ns, name in lookups:
        row = FluxObject.objects.filter(
            cluster_id=environment.cluster_id, kind=kind, namespace=ns, name=name
        ).first()
        if row is None:
            continue
        if kind == "ImagePolicy":
            result.policy_tag = row.details.get("tag", "")
        else:
            result.seen = list(row.details.get("latestTags") or [])
            result.scan_time = row.details.get("scanTime", "")
            result.tag_count = row.details.get("tagCount")
    return result


@dataclass
class EnvironmentPage:
    environment: Environment
    live: Live
    source_live: Live | None
    newest: NewestTags
    deployments: list[Deployment]
    active: Deployment | None
    approvals: list[Approval]
    events: list[AuditEvent]
    namespace_known: bool


def environment_page(*, environment: Environment, user: AbstractBaseUser) -> EnvironmentPage:
    live = environment_live(environment)
    source = environment.promotes_from
    source_live = environment_live(source) if source else None
    deployments = list(
        Deployment.objects.filter(environment=environment).select_related(
            "requested_by", "approval__approved_by"
        )[:15]
    )
    active = next((d for d in deployments if not d.done), None)
    approvals = list(
        Approval.objects.filter(environment=environment).select_related(
            "requested_by", "approved_by", "declined_by", "environment__team"
        )[:10]
    )
    # Ends with, not equals: the events stay when an SRE moves the environment to another namespace.
    events = list(
        audit_events(team=environment.team, limit=20, target_suffix=f"/Environment/{environment.slug}")
    )
    namespace_known = Namespace.objects.filter(
        cluster_id=environment.cluster_id, name=environment.namespace
    ).exists()
    return EnvironmentPage(
        environment, live, source_live, newest_tags(environment), deployments, active, approvals, events,
        namespace_known,
    )  # fmt: skip


def flux_objects_serving_production(*, objects: list[FluxObject]) -> set[int]:
    """Which of these Flux objects deploy or feed a production environment on their cluster.

    Each production environment's Kustomization, image policy and image repository;
    anything in its namespace or deploying into it; and the sources those deployers
    read (suspending one stops production's deploys). Two queries, however many objects.
    """
    clusters = {obj.cluster_id for obj in objects}
    environments = Environment.objects.filter(cluster_id__in=clusters, stage=Environment.Stage.PRODUCTION)
    named: set[tuple[int, str, str, str]] = set()  # (cluster, kind, namespace, name)
    namespaces: set[tuple[int, str]] = set()
    fields = ("cluster_id", "namespace", "kustomization", "image_policy", "image_repository")
    for env in environments.only(*fields):
        named.add((env.cluster_id, "Kustomization", env.kustomization_namespace, env.kustomization_name))
        if env.image_policy:
            named.add((env.cluster_id, "ImagePolicy", *env.image_policy.split(":", 1)))
        if env.image_repository:
            named.add((env.cluster_id, "ImageRepository", *env.image_repository.split("/", 1)))
        namespaces.add((env.cluster_id, env.namespace))
    if not named:
        return set()
    deploys_production = Q(pk__in=[])
    for cluster_id, kind, namespace, name in named:
        if kind == "Kustomization":
            deploys_production |= Q(cluster_id=cluster_id, kind=kind, namespace=namespace, name=name)
    for cluster_id, namespace in namespaces:
        deploys_production |= Q(cluster_id=cluster_id, kind__in=("Kustomization", "HelmRelease")) & (
            Q(namespace=namespace) | Q(target_namespace=namespace)
        )
    deployers = FluxObject.objects.filter(deploys_production).values_list("cluster_id", "source_ref")
    for cluster_id, ref in deployers:
        if ref.get("kind") and ref.get("name"):
            named.add((cluster_id, ref["kind"], ref.get("namespace", ""), ref["name"]))
    return {
        obj.pk
        for obj in objects
        if (obj.cluster_id, obj.kind, obj.namespace, obj.name) in named
        or (obj.cluster_id, obj.namespace) in namespaces
        or (obj.cluster_id, obj.target_namespace) in namespaces
    }
