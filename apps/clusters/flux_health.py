"""Tell a team when one of its Flux objects turns not Ready, and when it recovers.

Run after each sync that wrote something. Debounced in the outbox (StateWatch): one
message per change of state, at most one per object per QUIET_SECONDS, never one per sync.
An object seen for the first time is recorded silently, except one that appears not Ready
on a cluster already watched (a new Kustomization that fails is news; the first sync after
installing Shirube is not). Suspended objects and states Flux has not settled
(Unknown, none yet) tell nothing.
"""

from __future__ import annotations

from django.urls import reverse

from apps.clusters.models import Cluster, FluxObject, Namespace
from apps.notifications.selectors import watched_states
from apps.notifications.services import state_change_notify

QUIET_SECONDS = 15 * 60


def _state(obj: FluxObject) -> str | None:
    if obj.suspended:
        return None
    return {"True": "ready", "False": "not-ready"}.get(obj.ready_status)


def flux_health_notify(*, cluster: Cluster) -> int:
    """Compare each team-owned Flux object's readiness with what was last recorded; returns changes seen."""
    prefix = f"flux:{cluster.pk}:"
    known = watched_states(prefix=prefix)
    teams = {
        name: (team_id, slug)
        for name, team_id, slug in Namespace.objects.filter(cluster=cluster, team__isnull=False).values_list(
            "name", "team_id", "team__slug"
        )
    }
    changes = 0
    for obj in FluxObject.objects.filter(cluster=cluster).only(
        "uid", "kind", "namespace", "name", "target_namespace", "ready_status", "ready_reason",
        "ready_message", "suspended",
    ):  # fmt: skip
        state = _state(obj)
        key = prefix + obj.uid
        owners = {teams.get(n) for n in (obj.namespace, obj.target_namespace) if n and n in teams}
        if state is None or len(owners) != 1 or known.get(key) == state:
            continue
        changes += 1
        team_id, slug = owners.pop()
        what = f"{obj.kind} {obj.namespace}/{obj.name}"
        if state == "not-ready":
            title, text = f"{what} is not ready", f"{obj.ready_reason}: {obj.ready_message}"[:1000]
        else:
            title, text = f"{what} is ready again", ""
        state_change_notify(
            key=key, state=state, quiet_seconds=QUIET_SECONDS,
            tell_first=bool(known) and state == "not-ready",
            payload={"kind": "flux.health", "title": title, "text": text, "team_id": team_id,
                     "team_channel": True, "link": reverse("clusters:flux", args=[slug])},
        )  # fmt: skip
    return changes


def flux_health_after_sync(sender, *, cluster: Cluster, **kwargs) -> None:
    """cluster_snapshot_changed's receiver (ClustersConfig.ready): the sync sends it after writing."""
    flux_health_notify(cluster=cluster)
