"""Writes: evaluate a cluster's synced workloads, keep findings and restart history, snapshot scores."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.accounts.models import Team
from apps.clusters.models import Cluster, Namespace, Pod, PodDisruptionBudget, ServiceAccount, Workload
from apps.core.rows import rows_insert, rows_write
from apps.readiness.models import Assessment, Finding, RestartSample, TeamScore, Waiver
from apps.readiness.rules import IGNORE_REASON, RULES, Subject, evaluate, ignored_rules

log = logging.getLogger(__name__)

RESTART_WINDOW = timedelta(hours=24)
_POD_FIELDS = (
    "uid", "namespace", "labels", "annotations", "spec", "restarts", "service_account",
    "workload_kind", "workload_name", "created",
)  # fmt: skip


@dataclass
class RecomputeResult:
    workloads: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0


WorkloadKey = tuple[str, str, str]  # namespace, kind, name


def readiness_recompute(*, cluster: Cluster, now: datetime | None = None) -> RecomputeResult:
    """Evaluate every workload of a cluster and write only the findings that changed.

    Reads the last synced snapshot in a fixed number of queries; a finding keeps
    its first-seen time for as long as the workload keeps failing the rule.
    """
    now = now or timezone.now()
    namespaces = {
        name: (team_id, meta or {})
        for name, team_id, meta in Namespace.objects.filter(cluster=cluster).values_list(
            "name", "team_id", "annotations"
        )
    }
    workloads = [
        w
        for w in Workload.objects.filter(cluster=cluster, kind__in=Workload.TOP_KINDS).values(
            "uid", "namespace", "name", "kind", "desired", "template", "annotations", "owner"
        )
        # A CronJob's Jobs are judged through the CronJob's template.
        if not (w["kind"] == "Job" and (w["owner"] or {}).get("kind") == "CronJob")
    ]
    pods_by_workload: dict[WorkloadKey, list[dict]] = defaultdict(list)
    pods = list(Pod.objects.filter(cluster=cluster).values(*_POD_FIELDS))
    for pod in pods:
        pods_by_workload[(pod["namespace"], pod["workload_kind"], pod["workload_name"])].append(pod)
    accounts: dict[str, dict[str, dict]] = defaultdict(dict)
    for ns, name, meta in ServiceAccount.objects.filter(cluster=cluster).values_list(
        "namespace", "name", "annotations"
    ):
        accounts[ns][name] = meta or {}
    pdbs: dict[str, list[dict]] = defaultdict(list)
    for ns, selector in PodDisruptionBudget.objects.filter(cluster=cluster).values_list(
        "namespace", "selector"
    ):
        pdbs[ns].append(selector or {})
    waivers = list(Waiver.objects.filter(Q(cluster=None) | Q(cluster=cluster), expires_at__gt=now))
    restarts = _restarts_record(cluster, pods, now)
    production = cluster.is_production

    wanted: dict[tuple[str, str], dict] = {}
    assessed: dict[str, dict] = {}
    for w in workloads:
        ns = w["namespace"]
        key = (ns, w["kind"], w["name"])
        team_id, ns_annotations = namespaces.get(ns, (None, {}))
        subject = Subject(
            kind=w["kind"], namespace=ns, name=w["name"], template=w["template"] or {},
            annotations=w["annotations"] or {}, desired=w["desired"], pods=pods_by_workload.get(key, []),
            service_accounts=accounts.get(ns, {}), pdb_selectors=pdbs.get(ns, []),
            production=production, restarts_24h=restarts.get(key, 0),
        )  # fmt: skip
        results = evaluate(subject)
        assessed[w["uid"]] = {
            "team_id": team_id, "namespace": ns, "kind": w["kind"], "name": w["name"],
            "applicable": sorted(results),
        }  # fmt: skip
        workload_ignored = ignored_rules(subject.annotations)
        namespace_ignored = ignored_rules(ns_annotations)
        for rule_id, problems in results.items():
            if not problems:
                continue
            covering = [
                v
                for v in waivers
                if v.covers(cluster_id=cluster.pk, namespace=ns, name=w["name"], rule=rule_id)
            ]
            reason, until = _exemption(
                rule_id, workload_ignored, namespace_ignored, subject.annotations, ns_annotations, covering
            )
            wanted[(w["uid"], rule_id)] = {
                "team_id": team_id, "namespace": ns, "workload_kind": w["kind"], "workload_name": w["name"],
                "severity": RULES[rule_id].severity, "detail": "; ".join(problems)[:4000],
                "exempt_reason": reason[:500], "exempt_until": until,
            }  # fmt: skip
    result = RecomputeResult(workloads=len(workloads))
    with transaction.atomic():
        _write_findings(cluster, wanted, now, result)
        _write_assessments(cluster, assessed, now)
    return result


def _exemption(
    rule_id: str,
    workload_ignored: set[str],
    namespace_ignored: set[str],
    workload_annotations: dict,
    namespace_annotations: dict,
    waivers: list[Waiver],
) -> tuple[str, datetime | None]:
    if rule_id in workload_ignored:
        return "Ignored by the workload: " + (
            workload_annotations.get(IGNORE_REASON) or "no reason given"
        ), None
    if rule_id in namespace_ignored:
        return "Ignored by the namespace: " + (
            namespace_annotations.get(IGNORE_REASON) or "no reason given"
        ), None
    if waivers:
        waiver = max(waivers, key=lambda v: v.expires_at)
        return f"Waived by an SRE: {waiver.reason}", waiver.expires_at
    return "", None


_FINDING_FIELDS = (
    "team_id", "namespace", "workload_kind", "workload_name", "severity", "detail", "exempt_reason",
    "exempt_until",
)  # fmt: skip


def _write_findings(cluster: Cluster, wanted: dict, now: datetime, result: RecomputeResult) -> None:
    written = rows_write(
        scope=Finding.objects.filter(cluster=cluster), key=["workload_uid", "rule"], wanted=wanted,
        compare=_FINDING_FIELDS, write=_FINDING_FIELDS, fixed={"cluster": cluster},
        on_create={"first_seen": now},  # kept while the workload keeps failing the rule
    )  # fmt: skip
    result.created, result.updated, result.deleted = written.created, written.updated, written.deleted


_ASSESSMENT_FIELDS = ("team_id", "namespace", "kind", "name", "applicable")


def _write_assessments(cluster: Cluster, assessed: dict, now: datetime) -> None:
    rows_write(
        scope=Assessment.objects.filter(cluster=cluster), key=["uid"],
        wanted={(uid,): fields for uid, fields in assessed.items()}, compare=_ASSESSMENT_FIELDS,
        write=_ASSESSMENT_FIELDS, fixed={"cluster": cluster}, on_write={"updated_at": now},
    )  # fmt: skip


def _restarts_record(cluster: Cluster, pods: list[dict], now: datetime) -> dict[WorkloadKey, int]:
    """Record restart counts that changed; return each workload's restarts in the last 24 hours.

    A sample is written when a pod is first seen or its count changes. The newest
    sample from before the window is the baseline; a pod created inside the window
    counts from zero; the samples of a deleted pod count until they age out.
    """
    cutoff = now - RESTART_WINDOW
    samples: dict[str, list[dict]] = defaultdict(list)
    for row in (
        RestartSample.objects.filter(cluster=cluster)
        .order_by("seen_at", "pk")
        .values(
            "pk",
            "pod_uid",
            "namespace",
            "workload_kind",
            "workload_name",
            "restarts",
            "pod_created",
            "seen_at",
        )
    ):
        samples[row["pod_uid"]].append(row)
    new = []
    for pod in pods:
        history = samples[pod["uid"]]
        if not history or history[-1]["restarts"] != pod["restarts"]:
            row = {
                "pk": None, "pod_uid": pod["uid"], "namespace": pod["namespace"],
                "workload_kind": pod["workload_kind"], "workload_name": pod["workload_name"],
                "restarts": pod["restarts"], "pod_created": pod["created"], "seen_at": now,
            }  # fmt: skip
            history.append(row)
            new.append(RestartSample(cluster=cluster, **{k: v for k, v in row.items() if k != "pk"}))
    totals: dict[WorkloadKey, int] = defaultdict(int)
    stale: list[int] = []
    for history in samples.values():
        before = [s for s in history if s["seen_at"] <= cutoff]
        inside = [s for s in history if s["seen_at"] > cutoff]
        if not inside:
            # No change inside the window: no restarts to count; the newest sample stays
            # as the baseline (removed below if the pod is gone).
            stale += [s["pk"] for s in before[:-1] if s["pk"]]
            continue
        if before:
            baseline = before[-1]["restarts"]
            stale += [s["pk"] for s in before[:-1] if s["pk"]]
        elif inside[0]["pod_created"] and inside[0]["pod_created"] > cutoff:
            baseline = 0
        else:
            baseline = inside[0]["restarts"]
        last = inside[-1]
        totals[(last["namespace"], last["workload_kind"], last["workload_name"])] += max(
            last["restarts"] - baseline, 0
        )
    live = {p["uid"] for p in pods}
    for uid, history in samples.items():
        if uid not in live and history[-1]["seen_at"] <= cutoff:
            stale += [s["pk"] for s in history if s["pk"]]
    if new:
        rows_insert(RestartSample, new)
    if stale:
        RestartSample.objects.filter(pk__in=set(stale)).delete()
    return totals


def team_scores(*, now: datetime | None = None) -> dict[int, dict]:
    """team id -> {score, checks, failing, workloads}, from the stored assessments and findings."""
    now = now or timezone.now()
    scores: dict[int, dict] = defaultdict(lambda: {"checks": 0, "failing": 0, "workloads": 0})
    for team_id, applicable in Assessment.objects.exclude(team=None).values_list("team_id", "applicable"):
        scores[team_id]["checks"] += len(applicable)
        scores[team_id]["workloads"] += 1
    for team_id, count in _failing_counts(now):
        scores[team_id]["failing"] += count
    for values in scores.values():
        values["score"] = score_of(values["checks"], values["failing"])
    return dict(scores)


def _failing_counts(now: datetime):
    return (
        Finding.objects.active(now)
        .exclude(team=None)
        .values("team_id")
        .annotate(n=Count("pk"))
        .values_list("team_id", "n")
    )


def score_of(checks: int, failing: int) -> int:
    """Percent of applicable checks that pass; 100 with nothing to check."""
    if not checks:
        return 100
    return round(100 * max(checks - failing, 0) / checks)


def team_scores_snapshot(*, day: date | None = None, now: datetime | None = None) -> int:
    """Write (or rewrite) each team's score for `day`; the last write of a day is what is kept."""
    now = now or timezone.now()
    day = day or timezone.localdate(now)
    scores = team_scores(now=now)
    written = 0
    for team_id in Team.objects.values_list("pk", flat=True):
        values = scores.get(team_id)
        if values is None:
            continue  # a team with no workloads has no score, not a perfect one
        TeamScore.objects.update_or_create(
            team_id=team_id,
            day=day,
            defaults={k: values[k] for k in ("score", "checks", "failing", "workloads")},
        )
        written += 1
    return written
