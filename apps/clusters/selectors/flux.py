"""Reads for the Flux page: the team's Flux objects as a tree, from the last synced snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from apps.accounts.models import Team
from apps.clusters.models import FluxObject, Namespace
from apps.clusters.selectors.team import Freshness, freshness, team_clusters
from apps.lessons.models import Lesson
from apps.lessons.selectors import lesson_for_reasons


@dataclass
class FluxNode:
    obj: object  # FluxObject
    lesson: Lesson | None = None
    children: list[FluxNode] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # what this viewer may do
    owned: bool = True  # False for a source shown only because the team's objects use it
    last_action: object = None  # the newest FluxAction on it

    @property
    def failing(self) -> bool:
        o = self.obj
        return o.ready_status == "False" or any(child.failing for child in self.children)


@dataclass
class FluxView:
    team: Team
    freshness: list[Freshness]
    roots: list[FluxNode]
    images: list[FluxNode]
    failing: int
    kind_errors: dict[str, str]


_DEPLOYERS = ("Kustomization", "HelmRelease")
_FLUX_KEYS = {
    "gitrepositories", "ocirepositories", "helmrepositories", "helmcharts", "kustomizations",
    "helmreleases", "imagerepositories", "imagepolicies", "imageupdateautomations", "flux discovery",
}  # fmt: skip
_IMAGE_KINDS = ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")


def flux_view(*, team: Team) -> FluxView:
    """The team's Flux objects as a tree: source → Kustomizations and HelmReleases; failing first.

    An object belongs to the team when its namespace, or its spec.targetNamespace,
    is one of the team's; the sources they use are shown with them even when
    they live in flux-system.
    """
    namespaces = list(Namespace.objects.filter(team=team).values_list("cluster_id", "name"))
    clusters = team_clusters(team=team)
    condition = Q(pk__in=[])
    for cluster_id, name in namespaces:
        condition |= Q(cluster_id=cluster_id) & (Q(namespace=name) | Q(target_namespace=name))
    owned = list(FluxObject.objects.filter(condition).select_related("cluster")) if namespaces else []
    refs = {(o.cluster_id, o.source_ref.get("kind"), o.source_ref.get("namespace"), o.source_ref.get("name"))
            for o in owned if o.source_ref}  # fmt: skip
    have = {(o.cluster_id, o.kind, o.namespace, o.name) for o in owned}
    missing = refs - have
    extra_condition = Q(pk__in=[])
    for cluster_id, kind, namespace, name in missing:
        extra_condition |= Q(cluster_id=cluster_id, kind=kind, namespace=namespace, name=name)
    sources = list(FluxObject.objects.filter(extra_condition).select_related("cluster")) if missing else []
    lessons = lesson_for_reasons()

    def node(o) -> FluxNode:
        return FluxNode(o, lessons.get(o.ready_reason) if o.ready_status == "False" else None)

    nodes = {(o.cluster_id, o.kind, o.namespace, o.name): node(o) for o in owned + sources}
    for o in sources:
        nodes[(o.cluster_id, o.kind, o.namespace, o.name)].owned = False
    roots: list[FluxNode] = []
    images: list[FluxNode] = []
    attached: set = set()
    for key, n in nodes.items():
        o = n.obj
        if o.kind in _DEPLOYERS and o.source_ref:
            parent = nodes.get(
                (
                    o.cluster_id,
                    o.source_ref.get("kind"),
                    o.source_ref.get("namespace"),
                    o.source_ref.get("name"),
                )
            )
            if parent is not None:
                parent.children.append(n)
                attached.add(key)
    for key, n in nodes.items():
        if key in attached:
            continue
        (images if n.obj.kind in _IMAGE_KINDS else roots).append(n)

    def order(items: list[FluxNode]) -> list[FluxNode]:
        for item in items:
            item.children = order(item.children)
        return sorted(items, key=lambda n: (not n.failing, n.obj.kind, n.obj.namespace, n.obj.name))

    roots, images = order(roots), order(images)
    failing = sum(1 for n in nodes.values() if n.obj.ready_status == "False")
    kind_errors = {}
    for c in clusters:
        for kind, error in (c.kind_errors or {}).items():
            if kind in _FLUX_KEYS:
                kind_errors[f"{c.name}: {kind}"] = error
    return FluxView(team, [freshness(c) for c in clusters], roots, images, failing, kind_errors)


def flux_nodes(view: FluxView) -> list[FluxNode]:
    """Every node of the tree, depth first."""
    out: list[FluxNode] = []

    def walk(nodes: list[FluxNode]) -> None:
        for node in nodes:
            out.append(node)
            walk(node.children)

    walk(view.roots)
    walk(view.images)
    return out
