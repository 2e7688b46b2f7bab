"""Reads for environment pages: git state (refreshed by a task) and the last synced cluster state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from apps.accounts.models import Membership, Team
from apps.accounts.permissions import is_sre
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_events
from apps.clusters.models import FluxObject, Namespace, Pod, Workload
from apps.clusters.objects import image_parse
from apps.environments.gates import person_gates
from apps.environments.models import Approval, Deployment, Environment, HealthyTag
from apps.lessons.models import Lesson, Progress

# Pods in these states will not become ready by waiting: the environment is failing, not rolling out.
STUCK_POD_REASONS = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
    "CreateContainerConfigError", "CreateContainerError", "OOMKilled", "RunContainerError",
})  # fmt: skip


# The kinds whose pod templates say which tag the cluster wants (a ReplicaSet's is its Deployment's).
LIVE_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass
class Live:
    """What the cluster runs for one environment, from the last sync.

    The state, in the words the pages use: healthy (every pod runs git's tag and is ready);
    waiting for Flux (git moved and Flux has not applied that commit yet); rolling out
    (Flux applied it and the workloads ask for git's tag; pods are being replaced); failing
    (Flux cannot apply it, or pods are stuck: crash loop, image not pulled, bad configuration);
    drifted (Flux applied git, yet the workloads in the cluster ask for another tag: a change
    by hand, or a Kustomization that does not set this image); no pods.
    """

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


def _image_tags(images: list[str], repository: str) -> list[str]:
    return [ref.tag for ref in map(image_parse, images) if ref.repository == repository]


def _workload_tags(workloads, repository: str) -> set[str]:
    """The tags of `repository` that the workloads' pod templates ask for (what the cluster wants)."""
    tags: set[str] = set()
    for workload in workloads:
        containers = (workload.template or {}).get("containers") or []
        tags.update(_image_tags([c.get("image", "") for c in containers], repository))
    return tags


def environment_live(environment: Environment, *, pods=None, kustomizations=None, workloads=None) -> Live:
    """Healthy when every pod of the image runs git's tag and is ready; see Live for every state."""
    if kustomizations is None:
        kustomizations = _kustomizations([environment])
    kustomization = kustomizations.get(
        (environment.cluster_id, environment.kustomization_namespace, environment.kustomization_name)
    )
    if pods is None:
        pods = Pod.objects.filter(cluster_id=environment.cluster_id, namespace=environment.namespace)
    if workloads is None:
        workloads = Workload.objects.filter(
            cluster_id=environment.cluster_id, namespace=environment.namespace, kind__in=LIVE_WORKLOAD_KINDS
        ).only("template")
    live = Live("unknown", kustomization=kustomization)
    stuck = False
    for pod in pods:
        tags = _image_tags(pod.images, environment.image)
        if not tags:
            continue
        live.total += 1
        live.running[tags[0]] += 1
        if pod.phase == "Running" and pod.ready_containers == pod.total_containers:
            live.ready += 1
        elif pod.reason:
            live.problems.append(f"{pod.name}: {pod.reason}")
            stuck |= pod.reason in STUCK_POD_REASONS or pod.phase == "Failed"
    git_tag = environment.git_tag
    if kustomization and kustomization.ready_status == "False":
        live.state = "failing"
    elif not live.total:
        live.state = "no pods"
    elif set(live.running) == {git_tag} and live.ready == live.total:
        # Judged by the pods, not by the commit: the Kustomization applies the whole
        # repository, so its revision moves with every commit, to any path.
        live.state = "healthy"
    elif git_tag and not revision_has(kustomization.last_applied_revision if kustomization else "",
                                      environment.git_sha):  # fmt: skip
        live.state = "waiting for Flux"
    elif stuck:
        live.state = "failing"
    elif git_tag and git_tag not in live.running and _spec_asks_otherwise(workloads, environment):
        live.state = "drifted"
    else:
        live.state = "rolling out"
    return live


def _spec_asks_otherwise(workloads, environment: Environment) -> bool:
    """Drift needs evidence: the cluster's own spec asks for another tag than git's.

    Pods still on the old tag while the spec asks for git's are a rollout (the first seconds
    of every deploy), and without synced workloads there is no evidence either way.
    """
    wanted = _workload_tags(workloads, environment.image)
    return bool(wanted) and environment.git_tag not in wanted


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
    reviews: int = 0  # break-glass rollbacks waiting for a review


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
    workloads: dict[tuple, list[Workload]] = {}
    query = Workload.objects.none()
    for cluster_id, namespace in scopes:
        query = query | Workload.objects.filter(cluster_id=cluster_id, namespace=namespace)
    for workload in query.filter(kind__in=LIVE_WORKLOAD_KINDS).only("cluster_id", "namespace", "template"):
        workloads.setdefault((workload.cluster_id, workload.namespace), []).append(workload)
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
    reviews = Counter(
        break_glass_unreviewed().filter(environment__in=environments).values_list("environment_id", flat=True)
    )
    return [
        EnvironmentRow(
            e,
            environment_live(
                e,
                pods=pods.get((e.cluster_id, e.namespace), []),
                kustomizations=kustomizations,
                workloads=workloads.get((e.cluster_id, e.namespace), []),
            ),  # fmt: skip
            last.get(e.pk),
            pending.get(e.pk, []),
            reviews[e.pk],
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
    scanned: bool = False  # the environment names an ImageRepository the last sync found

    @property
    def complete(self) -> bool:
        """The scan listed every tag it found, so a tag missing from it does not exist."""
        return self.tag_count is not None and self.tag_count <= len(self.seen)


@dataclass
class TagEvidence:
    """What Shirube knows about whether a tag exists in the environment's image repository."""

    confirmed: str = ""  # how it is known to exist ("" when it is not)
    missing: str = ""  # why it is known not to exist
    unknown: str = ""  # why neither can be said (Flux's scan lists only ten tags)


def tag_evidence(environment: Environment, tag: str, *, newest: NewestTags | None = None) -> TagEvidence:
    """Whether `tag` exists: Flux's scan (its ten latestTags, or all of them when it found no more),
    the image policy's pick, or the tag having run healthy or ready in an environment of this image.

    Flux reports only a sample of a repository's tags (the first ten in descending order), so a
    real feature build is often in no status Shirube can read: that is "unknown", not missing.
    """
    newest = newest or newest_tags(environment)
    if tag in newest.seen:
        return TagEvidence(confirmed=f"the registry scan of {environment.image_repository} lists it")
    if tag == newest.policy_tag:
        return TagEvidence(confirmed=f"the image policy {environment.image_policy} picked it")
    same_image = Environment.objects.filter(image=environment.image)
    ran = HealthyTag.objects.filter(environment__in=same_image, tag=tag).select_related("environment").first()
    if ran is not None:
        return TagEvidence(confirmed=f"it ran healthy in {ran.environment.slug}")
    for env in same_image.only("cluster_id", "namespace", "image"):
        pods = Pod.objects.filter(
            cluster_id=env.cluster_id, namespace=env.namespace, phase="Running", ready_containers__gt=0
        )
        if any(tag in _image_tags(pod.images, env.image) for pod in pods.only("images")):
            return TagEvidence(confirmed=f"pods in {env.namespace} run it")  # so it was pulled
    if newest.scanned and newest.complete:
        return TagEvidence(missing=f"The registry scan of {environment.image} lists every tag it found "
                           f"({newest.tag_count}), and {tag} is not one of them.")  # fmt: skip
    if newest.scanned:
        found = newest.tag_count or "some"
        return TagEvidence(unknown=f"Flux's last scan of {environment.image} found {found} tags but reports "
                           f"only {len(newest.seen)} of them, and {tag} is not among those; no environment "
                           "has run it either.")  # fmt: skip
    where = "is set for this environment" if not environment.image_repository else "is in the last sync"
    return TagEvidence(unknown=f"There is no registry scan to check it against (no ImageRepository {where}), "
                       "and no environment has run it.")  # fmt: skip


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
            result.scanned = True
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
    reviews: list[Deployment] = field(default_factory=list)  # break-glass rollbacks to review


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
            "requested_by", "approved_by", "used_by", "declined_by", "environment__team"
        )[:10]
    )
    # Ends with, not equals: the events stay when an SRE moves the environment to another namespace.
    events = list(
        audit_events(team=environment.team, limit=20, target_suffix=f"/Environment/{environment.slug}")
    )
    namespace_known = Namespace.objects.filter(
        cluster_id=environment.cluster_id, name=environment.namespace
    ).exists()
    reviews = list(break_glass_unreviewed().filter(environment=environment).select_related("requested_by"))
    return EnvironmentPage(
        environment, live, source_live, newest_tags(environment), deployments, active, approvals, events,
        namespace_known, reviews,
    )  # fmt: skip


def break_glass_unreviewed():
    """Break-glass rollbacks nobody has reviewed yet, oldest first."""
    unreviewed = Deployment.objects.filter(break_glass=True, reviewed_at__isnull=True)
    return unreviewed.order_by("requested_at", "id")


def production_namespaces(*, cluster_id: int) -> set[str]:
    """The namespaces of a cluster where a production environment runs (one query)."""
    return set(
        Environment.objects.filter(cluster_id=cluster_id, stage=Environment.Stage.PRODUCTION).values_list(
            "namespace", flat=True
        )
    )


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


# -- A lesson's publication, seen from the gates (the lesson admin shows it before publishing) ----


@dataclass
class PublishImpact:
    """What publishing a lesson changes for one environment whose learning gate requires its phase."""

    environment: Environment
    due: datetime  # when the lesson starts to count there
    actions: list[str]  # what the people below could no longer do there from then
    people: list = field(default_factory=list)  # who may do them now and has not completed the lesson
    counting: bool = False  # already counts (published, grace over): nothing more changes


def _gated_actions(environment: Environment) -> list[str]:
    """The changes the learning gate stands in front of here, in the page's words."""
    actions = ["Promote" if environment.promotes_from_id else "Deploy", "Roll back"]
    if environment.image_policy:
        actions.append("Pin")
    return actions


def lesson_publish_impact(*, lesson: Lesson, now: datetime | None = None) -> list[PublishImpact]:
    """Per environment requiring the lesson's phase: from when it would count, and who would lose what.

    For a lesson not yet published: as if it were published now (or at its publish_at). For one
    in its grace period: the date it starts to count. SREs are exempt from the gate; people the
    role gate refuses have nothing to lose.
    """
    now = now or timezone.now()
    if lesson.is_visible(now) and lesson.gates_from:
        starts = lesson.gates_from
    elif lesson.is_visible(now):
        starts = None  # published before it was a requirement, or into a phase nothing required then
    else:
        starts = max(lesson.publish_at or now, now)
    completions = Progress.objects.filter(lesson=lesson, status=Progress.Status.COMPLETED)
    done_by = set(completions.values_list("user_id", flat=True))
    impacts = []
    environments = Environment.objects.filter(required_phases=lesson.phase).select_related("team", "cluster")
    for environment in environments.order_by("team__slug", "app", "stage"):
        due = starts + environment.requirement_grace if starts else None
        counting = due is None or due <= now
        impact = PublishImpact(environment, due or now, _gated_actions(environment), counting=counting)
        if not counting:
            members = Membership.objects.filter(team=environment.team, user__is_active=True)
            members = members.select_related("user")
            for membership in members.order_by("user__username"):
                user = membership.user
                if user.pk in done_by:
                    continue
                role, phases = person_gates(user, environment)
                if role.ok and not is_sre(user) and phases is not None and phases.ok:
                    impact.people.append(user)
        impacts.append(impact)
    return impacts


def environments_running(
    *, cluster_id: int | None, namespace: str = "", images: list[str], team: Team | None = None
) -> list[Environment]:
    """A team's environments, or those in one namespace whose image is among `images` (one query)."""
    if team is not None:
        return list(Environment.objects.filter(team=team).select_related("team"))
    repositories = {image_parse(image).repository for image in images}
    candidates = Environment.objects.filter(cluster_id=cluster_id, namespace=namespace).select_related("team")
    return [e for e in candidates if e.image in repositories]
