import contextlib
import threading
import time

import orjson
import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from kubesim import Simulator, Store
from kubesim import objects as o
from tests.kubesim.conftest import TOKEN


def configmap(name, **labels):
    cm = o.configmap("a", name, {"k": "v"})
    cm["metadata"]["labels"] = labels
    return cm


def later(action, delay=0.2):
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()))
    thread.start()
    return thread


def collect(stream, count):
    events = []
    w = watch.Watch()
    for event in w.stream(*stream[0], **stream[1]):
        events.append(event)
        if len(events) == count:
            w.stop()
    return events


@pytest.fixture
def sim():
    # Bookmarks every 0.3 s instead of 5 s keeps the bookmark test fast.
    with Simulator(token=TOKEN, bookmark_interval=0.3) as simulator:
        yield simulator


@pytest.fixture
def core(sim, api):
    sim.store.create(o.namespace("a"))
    sim.store.create(o.namespace("b"))
    return client.CoreV1Api(api)


def test_watch_streams_changes_made_after_the_listed_version(sim, core):
    rv = core.list_namespaced_config_map("a").metadata.resource_version

    def change():
        sim.store.create(configmap("settings"))
        sim.store.update("configmaps", "a", "settings", lambda cm: cm["data"].update(k="w"))
        sim.store.create(o.configmap("b", "elsewhere", {}))  # another namespace: not seen
        sim.store.delete("configmaps", "a", "settings")

    thread = later(change)
    events = collect(
        ((core.list_namespaced_config_map, "a"), {"resource_version": rv, "timeout_seconds": 5}), 3
    )
    thread.join()

    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"].data == {"k": "w"}
    assert events[0]["object"].kind == "ConfigMap"
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and versions[0] > int(rv)


def test_watch_without_a_version_starts_with_the_current_objects(sim, core):
    sim.store.create(configmap("one"))
    sim.store.create(configmap("two"))

    events = collect(((core.list_namespaced_config_map, "a"), {"timeout_seconds": 5}), 2)

    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "one"),
        ("ADDED", "two"),
    ]


def test_objects_leaving_a_label_selection_are_reported_deleted(sim, core):
    sim.store.create(configmap("web", app="web"))
    sim.store.create(configmap("db", app="db"))
    rv = str(sim.store.resource_version)

    def change():
        sim.store.update("configmaps", "a", "db", lambda cm: cm["metadata"]["labels"].update(app="web"))
        sim.store.update("configmaps", "a", "web", lambda cm: cm["metadata"]["labels"].update(app="api"))

    thread = later(change)
    events = collect(
        (
            (core.list_namespaced_config_map, "a"),
            {"resource_version": rv, "label_selector": "app=web", "timeout_seconds": 5},
        ),
        2,
    )
    thread.join()

    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "db"),
        ("DELETED", "web"),
    ]


def test_watch_honours_field_selectors(sim, core):
    rv = str(sim.store.resource_version)
    template = o.pod_template_spec([o.container("app", "app:1")])

    def change():
        sim.store.create(o.pod("a", "healthy", template))
        sim.store.create(o.pending_unschedulable(o.pod("a", "stuck", template)))

    thread = later(change)
    events = collect(
        (
            (core.list_pod_for_all_namespaces,),
            {
                "resource_version": rv,
                "field_selector": "status.phase=Pending",
                "timeout_seconds": 5,
            },
        ),
        1,
    )
    thread.join()

    assert events[0]["object"].metadata.name == "stuck"


def test_a_version_older_than_the_event_log_gets_410_gone():
    with Simulator(Store(event_log_size=5), token=TOKEN) as small:
        small.store.create(o.namespace("a"))
        for i in range(10):
            small.store.create(o.configmap("a", f"cm-{i}", {}))
        configuration = client.Configuration(host=small.url)
        configuration.api_key = {"BearerToken": f"Bearer {TOKEN}"}
        with client.ApiClient(configuration) as api:
            core = client.CoreV1Api(api)
            with pytest.raises(ApiException) as caught:
                list(
                    watch.Watch().stream(
                        core.list_namespaced_config_map,
                        "a",
                        resource_version="2",
                        timeout_seconds=2,
                    )
                )

            # A version still in the log works.
            recent = str(small.store.resource_version - 1)
            events = list(
                watch.Watch().stream(
                    core.list_namespaced_config_map, "a", resource_version=recent, timeout_seconds=1
                )
            )

    assert caught.value.status == 410
    assert "too old resource version: 2" in caught.value.reason
    assert [e["object"].metadata.name for e in events] == ["cm-9"]


def test_the_error_event_is_a_status_object():
    stale = Store(event_log_size=1)
    with Simulator(stale, token=TOKEN) as small:
        for name in ("a", "b", "c"):
            stale.create(o.namespace(name))
        configuration = client.Configuration(host=small.url)
        configuration.api_key = {"BearerToken": f"Bearer {TOKEN}"}
        with client.ApiClient(configuration) as api:
            response = client.CoreV1Api(api).list_namespace(
                watch=True, resource_version="1", timeout_seconds=1, _preload_content=False
            )
            lines = [line for line in response.data.decode().splitlines() if line]

    assert len(lines) == 1
    event = orjson.loads(lines[0])
    assert event["type"] == "ERROR"
    assert event["object"] == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "too old resource version: 1 (2)",
        "reason": "Expired",
        "code": 410,
    }


def test_bookmarks_are_sent_when_allowed(core):
    sim_rv = core.list_namespaced_config_map("a").metadata.resource_version
    started = time.monotonic()

    events = collect(
        (
            (core.list_namespaced_config_map, "a"),
            {"resource_version": sim_rv, "allow_watch_bookmarks": True, "timeout_seconds": 5},
        ),
        1,
    )

    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["raw_object"]["metadata"]["resourceVersion"] == sim_rv
    assert time.monotonic() - started < 4


def test_a_watch_ends_after_its_timeout(core):
    started = time.monotonic()

    events = list(
        watch.Watch().stream(core.list_namespaced_config_map, "a", resource_version="1", timeout_seconds=1)
    )

    assert events == []
    assert 0.9 < time.monotonic() - started < 3


def test_stopping_the_simulator_ends_open_watches(sim, core):
    finished = threading.Event()

    def watch_forever():
        # The stream ends cleanly, or is cut if the socket closes first.
        with contextlib.suppress(urllib3.exceptions.HTTPError):
            list(
                watch.Watch().stream(
                    core.list_namespaced_config_map, "a", resource_version="1", timeout_seconds=60
                )
            )
        finished.set()

    threading.Thread(target=watch_forever, daemon=True).start()
    time.sleep(0.3)
    sim.stop()

    assert finished.wait(5)
