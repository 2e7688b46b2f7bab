import orjson
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubesim import Simulator
from kubesim import objects as o
from tests.kubesim.conftest import TOKEN, raw

TEMPLATE = o.pod_template_spec([o.container("app", "registry/app:v1")])


def add_pod(sim, namespace, name, **labels):
    return sim.store.create(o.pod(namespace, name, TEMPLATE, labels=labels))


def seed_pods(sim, count, namespaces=("a", "b")):
    for ns in namespaces:
        sim.store.create(o.namespace(ns))
    for i in range(count):
        add_pod(sim, namespaces[i % len(namespaces)], f"pod-{i:03d}", app=f"app-{i % 3}")


def all_pages(core, **kwargs):
    pages, token = [], None
    while True:
        page = core.list_pod_for_all_namespaces(_continue=token, **kwargs)
        pages.append(page)
        token = page.metadata._continue
        if not token:
            return pages


def test_pages_cover_every_object_once_in_namespace_and_name_order(sim, api):
    seed_pods(sim, 9)

    pages = all_pages(client.CoreV1Api(api), limit=2)

    keys = [(p.metadata.namespace, p.metadata.name) for page in pages for p in page.items]
    assert len(pages) == 5
    assert keys == sorted(keys)
    assert len(set(keys)) == 9
    assert [page.metadata.remaining_item_count for page in pages] == [7, 5, 3, 1, None]


def test_later_pages_read_the_snapshot_taken_by_the_first(sim, api):
    seed_pods(sim, 6, namespaces=("a",))
    core = client.CoreV1Api(api)
    first = core.list_pod_for_all_namespaces(limit=2)
    before = {p.metadata.name: p.metadata.resource_version for p in core.list_pod_for_all_namespaces().items}

    # Between pages: a pod added at the end, one deleted and one changed on a later page.
    add_pod(sim, "a", "pod-999")
    sim.store.delete("pods", "a", "pod-004")
    sim.store.update("pods", "a", "pod-003", lambda p: p["metadata"]["labels"].update(changed="yes"))

    rest = []
    token = first.metadata._continue
    while token:
        page = core.list_pod_for_all_namespaces(limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        rest.extend(page.items)
        token = page.metadata._continue

    seen = {p.metadata.name: p.metadata.resource_version for p in first.items + rest}
    assert seen == before
    assert "changed" not in next(p for p in rest if p.metadata.name == "pod-003").metadata.labels
    fresh = {p.metadata.name for p in core.list_pod_for_all_namespaces().items}
    assert "pod-999" in fresh and "pod-004" not in fresh


def test_an_evicted_snapshot_answers_410_with_a_token_for_the_rest():
    with Simulator(token=TOKEN, snapshot_cache_size=1) as small:
        seed_pods(small, 6)
        configuration = client.Configuration(host=small.url)
        configuration.api_key = {"BearerToken": f"Bearer {TOKEN}"}
        with client.ApiClient(configuration) as api:
            core = client.CoreV1Api(api)
            first = core.list_pod_for_all_namespaces(limit=2)
            add_pod(small, "b", "pod-new")
            core.list_pod_for_all_namespaces(limit=2)  # a second snapshot evicts the first

            with pytest.raises(ApiException) as caught:
                core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue)

            status = orjson.loads(caught.value.body)
            # The token in the error continues after the last key seen, from current state.
            rest = core.list_pod_for_all_namespaces(_continue=status["metadata"]["continue"])

    assert caught.value.status == 410
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Expired", 410)
    assert status["message"].startswith("The provided continue parameter is too old")
    assert {p.metadata.name for p in rest.items}.isdisjoint({p.metadata.name for p in first.items})
    assert len(rest.items) == 5 and "pod-new" in {p.metadata.name for p in rest.items}


def test_a_garbled_continue_token_is_a_bad_request(sim, api):
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_pod_for_all_namespaces(limit=1, _continue="not-a-token")

    assert caught.value.status == 400


def test_remaining_item_count_is_left_out_when_a_selector_is_used(sim, api):
    seed_pods(sim, 9)

    page = client.CoreV1Api(api).list_pod_for_all_namespaces(limit=2, label_selector="app=app-0")

    assert page.metadata._continue
    assert page.metadata.remaining_item_count is None


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", {"web-1", "web-2"}),
        ("app==web,tier=front", {"web-1"}),
        ("app!=web", {"db-1", "bare"}),
        ("tier", {"web-1", "db-1"}),
        ("!tier", {"web-2", "bare"}),
        ("app in (web,db)", {"web-1", "web-2", "db-1"}),
        ("app notin (web),tier", {"db-1"}),
    ],
)
def test_label_selectors(sim, api, selector, expected):
    sim.store.create(o.namespace("a"))
    add_pod(sim, "a", "web-1", app="web", tier="front")
    add_pod(sim, "a", "web-2", app="web")
    add_pod(sim, "a", "db-1", app="db", tier="back")
    add_pod(sim, "a", "bare")

    pods = client.CoreV1Api(api).list_namespaced_pod("a", label_selector=selector).items

    assert {p.metadata.name for p in pods} == expected


def test_a_malformed_label_selector_is_a_bad_request(sim, api):
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_pod_for_all_namespaces(label_selector="app in web")

    assert caught.value.status == 400
    assert orjson.loads(caught.value.body)["reason"] == "BadRequest"


def test_field_selectors(sim, api):
    for ns in ("a", "b"):
        sim.store.create(o.namespace(ns))
    running = add_pod(sim, "a", "running")
    pending = sim.store.create(o.pending_unschedulable(o.pod("b", "pending", TEMPLATE)))
    sim.store.create(o.warning_event(pending, "FailedScheduling", o.UNSCHEDULABLE_MESSAGE))
    sim.store.create(o.event(running, "Pulled", "Successfully pulled image"))
    core = client.CoreV1Api(api)

    assert [
        p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector="status.phase=Pending").items
    ] == ["pending"]
    assert [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces(field_selector="status.phase!=Pending").items
    ] == ["running"]
    assert [
        p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector="metadata.namespace=a").items
    ] == ["running"]
    assert [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces(field_selector="metadata.name=pending").items
    ] == ["pending"]
    warnings = core.list_event_for_all_namespaces(field_selector="type=Warning").items
    assert [e.reason for e in warnings] == ["FailedScheduling"]
    assert warnings[0].involved_object.name == "pending"


def test_an_unsupported_field_selector_is_a_bad_request(sim, api):
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_pod_for_all_namespaces(field_selector="spec.containers=x")

    assert caught.value.status == 400
    assert "field label not supported" in orjson.loads(caught.value.body)["message"]


def test_a_namespaced_list_holds_only_that_namespace(sim, api):
    seed_pods(sim, 6)

    status, body = raw(api, "GET", "/api/v1/namespaces/b/pods")

    assert status == 200
    assert body["kind"] == "PodList"
    assert {p["metadata"]["namespace"] for p in body["items"]} == {"b"}
    assert len(body["items"]) == 3
    assert body["metadata"]["resourceVersion"] == str(sim.store.resource_version)
    assert "continue" not in body["metadata"]
