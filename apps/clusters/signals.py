"""Signals the clusters app sends for apps on higher floors to answer (CONVENTIONS.md: the floors)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `objects` (FluxObjects with their clusters loaded) before a Flux action is
# allowed or offered. Each receiver returns the pks of the objects that deploy or feed
# something in production. Environments answer: an environment's stage is its own, so a
# production Kustomization can live on a cluster marked staging.
flux_objects_production = Signal()

# Sent with `cluster` and `run` (its SyncRun) after a sync has written something (rows
# created, updated or deleted) and released its lock. Readiness answers: it queues a
# recompute of the cluster's findings on commit. A receiver's failure is logged, never the
# sync's: the data is written and the run recorded by then.
cluster_snapshot_changed = Signal()
