"""rows_write keeps a table equal to what is wanted, writing only the difference (real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.core import rows
from apps.core.rows import rows_insert, rows_write
from apps.readiness.models import Assessment

pytestmark = pytest.mark.django_db

FIELDS = ("namespace", "kind", "name", "applicable")


@pytest.fixture
def clusters():
    return [Cluster.objects.create(name=name, connection="in_cluster") for name in ("one", "two")]


def assessment(uid: str, **fields) -> dict:
    return {"namespace": "ns", "kind": "Deployment", "name": uid, "applicable": ["a", "b"], **fields}


def write(cluster, wanted, when):
    return rows_write(
        scope=Assessment.objects.filter(cluster=cluster), key=["uid"], wanted=wanted, compare=FIELDS,
        write=FIELDS, fixed={"cluster": cluster}, on_write={"updated_at": when},
    )  # fmt: skip


def stored(cluster) -> dict[str, tuple]:
    return {a.uid: (a.name, a.applicable, a.updated_at) for a in Assessment.objects.filter(cluster=cluster)}


def test_it_creates_updates_keeps_and_deletes_only_what_differs(clusters):
    one, two = clusters
    first = timezone.now() - timedelta(hours=1)
    written = write(
        one, {("u1",): assessment("u1"), ("u2",): assessment("u2"), ("u3",): assessment("u3")}, first
    )
    assert (written.created, written.updated, written.deleted) == (3, 0, 0)
    write(two, {("u1",): assessment("other")}, first)  # another scope, same keys: never touched

    later = timezone.now()
    written = write(
        one,
        {
            ("u1",): assessment("u1"),  # the same: not rewritten
            ("u2",): assessment("u2", applicable=["a"]),  # changed: rewritten
            ("u4",): assessment("u4"),  # new
        },  # u3 is gone
        later,
    )
    assert (written.created, written.updated, written.deleted) == (1, 1, 1)
    rows_now = stored(one)
    assert set(rows_now) == {"u1", "u2", "u4"}
    assert rows_now["u1"][2] == first, "an unchanged row is not written"
    assert rows_now["u2"][1:] == (["a"], later)
    assert rows_now["u4"][2] == later
    assert stored(two) == {"u1": ("other", ["a", "b"], first)}


def test_a_row_known_to_be_unchanged_is_kept_without_being_compared(clusters):
    one, _ = clusters
    when = timezone.now() - timedelta(hours=1)
    write(one, {("u1",): assessment("u1"), ("u2",): assessment("u2")}, when)
    written = write(one, {("u1",): None}, timezone.now())
    assert (written.created, written.updated, written.deleted) == (0, 0, 1)
    assert stored(one) == {"u1": ("u1", ["a", "b"], when)}
    assert write(one, {("new",): None}, when).created == 0, "None never creates a row"


def test_new_rows_get_the_creation_values_and_keep_them(clusters):
    one, _ = clusters
    created = timezone.now() - timedelta(days=1)

    def write_created(wanted, when):
        return rows_write(
            scope=Assessment.objects.filter(cluster=one), key=["uid"], wanted=wanted, compare=FIELDS,
            write=FIELDS, fixed={"cluster": one}, on_create={"updated_at": when},
        )  # fmt: skip

    write_created({("u1",): assessment("u1")}, created)
    write_created({("u1",): assessment("u1", name="renamed")}, timezone.now())
    row = Assessment.objects.get(cluster=one, uid="u1")
    assert row.name == "renamed" and row.updated_at == created


def test_many_rows_go_in_with_one_copy_and_out_in_slices(clusters, monkeypatch):
    one, _ = clusters
    wanted = {(f"u{i}",): assessment(f"u{i}", applicable=[f"rule-{i}", "ünïcode"]) for i in range(50)}
    with CaptureQueriesContext(connection) as queries:
        write(one, wanted, timezone.now())
    if connection.vendor == "postgresql":
        assert not any("INSERT" in q["sql"] for q in queries.captured_queries), "COPY, not INSERT"
    assert Assessment.objects.get(cluster=one, uid="u7").applicable == ["rule-7", "ünïcode"]
    monkeypatch.setattr(rows, "DELETE_SLICE", 7)
    assert write(one, {}, timezone.now()).deleted == 50
    assert not Assessment.objects.filter(cluster=one).exists()


def test_rows_insert_stores_every_column(clusters):
    one, _ = clusters
    when = timezone.now()
    rows_insert(Assessment, [Assessment(cluster=one, uid="x", namespace="n", kind="Job", name="j",
                                        applicable=["a"], updated_at=when)])  # fmt: skip
    row = Assessment.objects.get(uid="x")
    assert (row.cluster, row.namespace, row.kind, row.name, row.applicable, row.updated_at) == (
        one, "n", "Job", "j", ["a"], when,
    )  # fmt: skip
