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


UPDATE_SLICE = 1000


def rows_update(model: type[models.Model], instances: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Rewrite `fields` of existing rows, in time linear in their number.

    Django's bulk_update writes one CASE WHEN per column with a branch per row, which
    the database evaluates row by row: 1,000 changed pods took 12-16 s on PostgreSQL.
    PostgreSQL joins the table to a VALUES list instead; SQLite runs one prepared UPDATE
    per row (no network between them). No pre_save hooks run, as with bulk_update.
    """
    columns = [model._meta.get_field(name) for name in fields]
    pk = model._meta.pk
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)

    def values(obj) -> list:
        return [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns]

    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(f"{qn(f.column)} = %s" for f in columns)
            # Identifiers from the model's own metadata, quoted; every value is a parameter.
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE {qn(pk.column)} = %s",  # noqa: S608
                [[*values(obj), pk.get_db_prep_save(obj.pk, connection)] for obj in instances],
            )
            return
        names = ", ".join(qn(f.column) for f in [pk, *columns])
        assignments = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns)
        row = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in [pk, *columns]) + ")"
        for start in range(0, len(instances), UPDATE_SLICE):
            chunk = instances[start : start + UPDATE_SLICE]
            params = [
                value for obj in chunk for value in (pk.get_db_prep_save(obj.pk, connection), *values(obj))
            ]
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM (VALUES {', '.join([row] * len(chunk))}) "  # noqa: S608
                f"AS v({names}) WHERE t.{qn(pk.column)} = v.{qn(pk.column)}",
                params,
            )


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
    key, compare = tuple(key), tuple(compare)
    stored = {tuple(row[k] for k in key): row for row in scope.values("pk", *key, *compare)}
    gone = [row["pk"] for values, row in stored.items() if values not in wanted]
    return _rows_apply(
        scope.model, key, stored, wanted, gone, compare=compare, write=write,
        fixed=fixed, on_create=on_create, on_write=on_write,
    )  # fmt: skip


def rows_change(
    *,
    scope: models.QuerySet,
    key: str,
    upserts: Mapping[object, dict],
    deletes: Iterable[object],
    compare: Iterable[str],
    write: Iterable[str],
    fixed: Mapping[str, object] | None = None,
) -> RowsWritten:
    """Write some rows of `scope` and leave the others alone (a watch's changes, not a whole list).

    `upserts` maps a key value to the row's fields: created when absent, rewritten when its
    `compare` fields differ. Rows whose key is in `deletes` go. Inside a transaction.
    """
    compare = tuple(compare)
    deletes = set(deletes) - set(upserts)
    touched = [*upserts, *deletes]
    stored = {}
    for start in range(0, len(touched), DELETE_SLICE):
        for row in scope.filter(**{f"{key}__in": touched[start : start + DELETE_SLICE]}).values(
            "pk", key, *compare
        ):
            stored[(row[key],)] = row
    gone = [row["pk"] for (value,), row in stored.items() if value in deletes]
    wanted = {(value,): fields for value, fields in upserts.items()}
    return _rows_apply(scope.model, (key,), stored, wanted, gone, compare=compare, write=write, fixed=fixed)


def _rows_apply(
    model: type[models.Model],
    key: tuple[str, ...],
    stored: dict[tuple, dict],
    wanted: Mapping[tuple, dict | None],
    gone: list,
    *,
    compare: Iterable[str],
    write: Iterable[str],
    fixed: Mapping[str, object] | None = None,
    on_create: Mapping[str, object] | None = None,
    on_write: Mapping[str, object] | None = None,
) -> RowsWritten:
    compare = tuple(compare)
    fixed, on_create, on_write = dict(fixed or {}), dict(on_create or {}), dict(on_write or {})
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
    if to_create:
        rows_insert(model, to_create)
    if to_update:
        rows_update(model, to_update, [*write, *on_write])
    for start in range(0, len(gone), DELETE_SLICE):
        model.objects.filter(pk__in=gone[start : start + DELETE_SLICE]).delete()
    return RowsWritten(len(to_create), len(to_update), len(gone))
