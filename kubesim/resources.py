"""The registry of resource types the simulator serves.

Discovery (`/api`, `/apis`, `/apis/<group>/<version>`), routing and storage all
read from one `Registry`, so registering a type (a Flux CRD, say) is enough to
make it listable, watchable and visible to discovery clients.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Every kind accepts these field selectors; the extra ones per kind below are the
# same the real API server accepts (an unknown field is a 400, as there).
COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})

_POD_FIELDS = frozenset(
    {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    }
)
_EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)

# The verbs we implement; discovery advertises only these so clients do not try
# delete and the like.
VERBS = ("create", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One served resource type in one API version."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    singular: str = ""
    # Whether `/status` exists; writes to the main resource then ignore `.status`.
    status_subresource: bool = True
    # Custom resources list their items with kind/apiVersion; built-ins do not.
    custom: bool = False
    field_selectors: frozenset[str] = field(default=COMMON_FIELDS)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Versions of one group share storage, as they do in etcd."""
        return (self.group, self.plural)

    @property
    def qualified_name(self) -> str:
        """`deployments.apps`, or `pods` for the core group (used in messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def discovery_entries(self) -> list[dict]:
        """The APIResource entries for this type and its `/status` subresource."""
        entries = [
            {
                "name": self.plural,
                "singularName": self.singular or self.kind.lower(),
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": list(VERBS),
            }
        ]
        if self.status_subresource:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        return entries


class Registry:
    """The resource types served, in registration order (which discovery keeps)."""

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_path: dict[tuple[str, str, str], Resource] = {}
        self._by_kind: dict[tuple[str, str], Resource] = {}
        # group -> versions in order; the first is the preferred version.
        self._versions: dict[str, list[str]] = {}
        for resource in resources:
            self.add(resource)

    def add(self, resource: Resource) -> Resource:
        """Serve `resource`; re-adding the same type replaces it."""
        self._by_path[(resource.group, resource.version, resource.plural)] = resource
        self._by_kind[(resource.group_version, resource.kind)] = resource
        versions = self._versions.setdefault(resource.group, [])
        if resource.version not in versions:
            versions.append(resource.version)
        return resource

    def register_resource(
        self,
        group: str,
        version: str | Iterable[str],
        kind: str,
        plural: str,
        namespaced: bool = True,
    ) -> list[Resource]:
        """Serve a custom resource in one or several versions (the first is preferred)."""
        versions = [version] if isinstance(version, str) else list(version)
        return [self.add(Resource(group, v, kind, plural, namespaced, custom=True)) for v in versions]

    def get(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_path.get((group, version, plural))

    def for_kind(self, api_version: str, kind: str) -> Resource:
        """The resource an object with this apiVersion and kind belongs to."""
        try:
            return self._by_kind[(api_version, kind)]
        except KeyError:
            raise LookupError(f"no resource registered for {api_version} {kind}") from None

    def for_object(self, obj: dict) -> Resource:
        return self.for_kind(obj.get("apiVersion", ""), obj.get("kind", ""))

    def groups(self) -> list[str]:
        """Named groups (not the core group), in registration order."""
        return [g for g in self._versions if g]

    def versions(self, group: str) -> list[str]:
        return list(self._versions.get(group, []))

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self._by_path.values() if r.group == group and r.version == version]


def builtin_resources() -> list[Resource]:
    """The built-in types the demo holds and the portal reads, described as the real API does."""
    no_status = {"status_subresource": False}
    return [
        Resource(
            "", "v1", "Namespace", "namespaces", namespaced=False,
            field_selectors=COMMON_FIELDS | {"status.phase"},
        ),
        Resource(
            "", "v1", "Node", "nodes", namespaced=False,
            field_selectors=COMMON_FIELDS | {"spec.unschedulable"},
        ),
        Resource("", "v1", "Pod", "pods", field_selectors=COMMON_FIELDS | _POD_FIELDS),
        Resource("", "v1", "ServiceAccount", "serviceaccounts", **no_status),
        Resource("", "v1", "Event", "events", field_selectors=COMMON_FIELDS | _EVENT_FIELDS, **no_status),
        Resource("", "v1", "Service", "services"),
        Resource("", "v1", "ConfigMap", "configmaps", **no_status),
        Resource("apps", "v1", "Deployment", "deployments"),
        Resource("apps", "v1", "StatefulSet", "statefulsets"),
        Resource("apps", "v1", "DaemonSet", "daemonsets"),
        Resource("apps", "v1", "ReplicaSet", "replicasets",
                 field_selectors=COMMON_FIELDS | {"status.replicas"}),
        Resource("batch", "v1", "Job", "jobs", field_selectors=COMMON_FIELDS | {"status.successful"}),
        Resource("batch", "v1", "CronJob", "cronjobs"),
        Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    ]  # fmt: skip


def default_registry() -> Registry:
    """A fresh registry with the built-in types (each simulator gets its own)."""
    return Registry(builtin_resources())
