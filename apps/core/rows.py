"""Writing many rows at once: insert fast, and make a set of rows match what is wanted.

The sync (every synced kind) and readiness (findings, assessments) both keep a
table equal to something computed elsewhere and write only the difference, so
that a pass that changed nothing writes nothing. Both go through `rows_write`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import connection, models

# Deletes in slices: one IN list of tens of thousands of ids is slow on PostgreSQL and
# past SQLite's limit on query parameters.
DELETE_SLICE = 5000


def rows_insert(model: type[models.Model], instances: Sequence[models.Model]) -> None:
    """Insert new rows: COPY on PostgreSQL (a first sync writes tens of thousands), else bulk_create.

    No pre_save hooks run (auto_now fields stay as given); Django 5.2's bulk_create on
    PostgreSQL spends seconds escaping JSON values into arrays at this size.
    """
    if connection.vendor != "postgresql":
        model.objects.bulk_create(instances, batch_size=500)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in instances:
            copy.write_row([f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields])


@dataclass
class RowsWritten:
    created: int = 0
    updated: int = 0
    deleted: int = 0


def rows_write(
    *,
    scope: models.QuerySet,
    key: Sequence[str],
    wanted: Mapping[tuple, dict | None],
    compare: Iterable[str],
    write: Iterable[str],
    fixed: Mapping[str, object] | None = None,
    on_create: Mapping[str, object] | None = None,
    on_write: Mapping[str, object] | None = None,
) -> RowsWritten:
    """Make the rows of `scope` exactly `wanted`, writing only the difference.

    `wanted` maps each row's `key` values (a tuple, in `key`'s order) to its fields,
    or to None for a row that is known to be unchanged (it stays, and nothing is
    read from it). A row whose `compare` fields differ from the stored ones is
    rewritten (its `write` fields); rows of the scope not in `wanted` are deleted.
    `fixed` goes on every new or rewritten row (the cluster it belongs to, say),
    `on_create` on new rows only (when a finding was first seen), `on_write` on
    every row written (an update time). Call it inside a transaction: the scope is
    read, then written.
    """
    model = scope.model
    key, compare = tuple(key), tuple(compare)
    fixed, on_create, on_write = dict(fixed or {}), dict(on_create or {}), dict(on_write or {})
    stored = {tuple(row[k] for k in key): row for row in scope.values("pk", *key, *compare)}
    to_create, to_update = [], []
    for values, fields in wanted.items():
        row = stored.get(values)
        if fields is None:
            continue
        if row is None:
            identity = dict(zip(key, values, strict=True))
            to_create.append(model(**{**fixed, **identity, **fields, **on_create, **on_write}))
        elif any(row[name] != fields[name] for name in compare):
            to_update.append(model(**{**fixed, **fields, **on_write, "pk": row["pk"]}))
    gone = [row["pk"] for values, row in stored.items() if values not in wanted]
    if to_create:
        rows_insert(model, to_create)
    if to_update:
        model.objects.bulk_update(to_update, [*write, *on_write], batch_size=500)
    for start in range(0, len(gone), DELETE_SLICE):
        model.objects.filter(pk__in=gone[start : start + DELETE_SLICE]).delete()
    return RowsWritten(len(to_create), len(to_update), len(gone))
