import threading

import pytest

from kubesim import Store
from kubesim import objects as o
from kubesim.store import AlreadyExists, Conflict, Expired, Invalid, NotFound


@pytest.fixture
def store():
    s = Store()
    s.create(o.namespace("a"))
    return s


def test_every_write_bumps_the_global_resource_version(store):
    first = store.create(o.configmap("a", "one", {}))
    second = store.create(o.configmap("a", "two", {}))
    changed = store.update("configmaps", "a", "one", lambda cm: cm["data"].update(k="v"))

    versions = [int(x["metadata"]["resourceVersion"]) for x in (first, second, changed)]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert store.resource_version == versions[-1]


def test_create_sets_uid_timestamp_and_generation_when_missing(store):
    created = store.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a"}}
    )

    assert len(created["metadata"]["uid"]) == 36
    assert created["metadata"]["creationTimestamp"].endswith("Z")
    assert created["metadata"]["generation"] == 1


def test_generate_name_gets_a_random_suffix(store):
    created = store.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"generateName": "job-", "namespace": "a"},
        }
    )

    assert created["metadata"]["name"].startswith("job-")
    assert len(created["metadata"]["name"]) == len("job-") + 5


def test_generation_moves_only_with_the_spec(store):
    dep = o.deployment("a", "web", "web:1", 1).controller
    store.create(dep)

    labelled = store.update("deployments.apps", "a", "web", lambda d: d["metadata"]["labels"].update(x="y"))
    scaled = store.update("deployments.apps", "a", "web", lambda d: d["spec"].update(replicas=3))

    assert labelled["metadata"]["generation"] == 1
    assert scaled["metadata"]["generation"] == 2


def test_a_no_op_write_keeps_the_version_and_sends_no_event(store):
    store.create(o.configmap("a", "one", {"k": "v"}))
    rv = store.resource_version

    unchanged = store.update("configmaps", "a", "one", lambda cm: None)

    assert unchanged["metadata"]["resourceVersion"] == str(rv)
    assert store.resource_version == rv
    assert store.events_after(rv) == []


def test_status_writes_and_main_writes_keep_to_their_part(store):
    store.create(o.deployment("a", "web", "web:1", 1).controller)
    current = store.get("deployments.apps", "a", "web")
    current["spec"]["replicas"] = 5
    current["status"] = {"replicas": 42}

    main = store.replace(current, keep_status=True)
    status = store.replace({**main, "spec": {"replicas": 9}, "status": {"replicas": 7}}, status_only=True)

    assert main["spec"]["replicas"] == 5 and main["status"] != {"replicas": 42}
    assert status["spec"]["replicas"] == 5 and status["status"] == {"replicas": 7}


def test_errors(store):
    store.create(o.configmap("a", "one", {}))

    with pytest.raises(AlreadyExists):
        store.create(o.configmap("a", "one", {}))
    with pytest.raises(NotFound):
        store.delete("configmaps", "a", "missing")
    with pytest.raises(Invalid):
        store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "no-namespace"}})
    stale = store.get("configmaps", "a", "one")
    store.update("configmaps", "a", "one", lambda cm: cm.update(data={"k": "v"}))
    with pytest.raises(Conflict):
        store.replace(stale)


def test_reads_hand_out_copies(store):
    store.create(o.configmap("a", "one", {"k": "v"}))

    store.get("configmaps", "a", "one")["data"]["k"] = "changed"
    store.list("configmaps")[0]["data"]["k"] = "changed"

    assert store.get("configmaps", "a", "one")["data"] == {"k": "v"}


def test_the_event_log_is_bounded_and_reports_what_fell_out():
    store = Store(event_log_size=3)
    store.create(o.namespace("a"))
    for i in range(4):
        store.create(o.configmap("a", f"cm-{i}", {}))

    assert [e.obj["metadata"]["name"] for e in store.events_after(3)] == ["cm-2", "cm-3"]
    with pytest.raises(Expired):
        store.events_after(1)


def test_deleted_events_carry_a_new_resource_version(store):
    store.create(o.configmap("a", "one", {}))
    rv = store.resource_version

    store.delete("configmaps", "a", "one")

    [event] = store.events_after(rv)
    assert event.type == "DELETED"
    assert int(event.obj["metadata"]["resourceVersion"]) == rv + 1


def test_delete_cascades_through_owner_references(store):
    for obj in o.deployment("a", "web", "web:1", 2).objects():
        store.create(obj)

    store.delete("deployments.apps", "a", "web")

    assert store.list("replicasets.apps") == [] and store.list("pods") == []


def test_deleting_a_namespace_deletes_its_contents(store):
    store.create(o.namespace("b"))
    store.create(o.configmap("a", "one", {}))
    store.create(o.configmap("b", "two", {}))

    store.delete("namespaces", None, "a")

    assert [cm["metadata"]["name"] for cm in store.list("configmaps")] == ["two"]


def test_load_takes_the_dicts_without_copying(store):
    cm = o.configmap("a", "bulk", {})

    assert store.load([cm]) == 1
    assert store.peek("configmaps", "a", "bulk") is cm


def test_wait_for_change_wakes_on_a_write(store):
    rv = store.resource_version
    timer = threading.Timer(0.1, lambda: store.create(o.configmap("a", "late", {})))
    timer.start()

    assert store.wait_for_change(rv, timeout=5)
    assert not store.wait_for_change(store.resource_version, timeout=0.05)
    timer.join()


def test_resources_are_found_by_qualified_name(store):
    assert store.resource("pods").kind == "Pod"
    assert store.resource("deployments.apps").group == "apps"
    with pytest.raises(LookupError):
        store.resource("widgets.example.com")


def test_a_copy_holds_the_same_objects_and_history_and_goes_its_own_way(store):
    store.create(o.configmap("a", "one", {"k": "v"}))
    store.images["ghcr.io/acme/api"] = {"v1"}  # what the registry holds decides what pods can pull
    rv = store.resource_version
    copy = store.copy()
    assert copy.images == {"ghcr.io/acme/api": {"v1"}}
    copy.images["ghcr.io/acme/api"].add("v2")
    assert store.images == {"ghcr.io/acme/api": {"v1"}}

    assert copy.resource_version == rv
    assert copy.list("configmaps") == store.list("configmaps")  # same uids and versions
    assert [e.rv for e in copy.events_after(0)] == [e.rv for e in store.events_after(0)]

    copy.update("configmaps", "a", "one", lambda cm: cm["data"].update(k="copy"))
    copy.create(o.configmap("a", "two", {}))
    copy.registry.register_resource("example.com", "v1", "Widget", "widgets")
    store.delete("configmaps", "a", "one")

    assert store.get("configmaps", "a", "one") is None and store.count("configmaps") == 0
    assert copy.get("configmaps", "a", "one")["data"] == {"k": "copy"} and copy.count("configmaps") == 2
    assert copy.resource_version == rv + 2 and [e.type for e in store.events_after(rv)] == ["DELETED"]
    assert "example.com" in copy.registry.groups() and "example.com" not in store.registry.groups()
