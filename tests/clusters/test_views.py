import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.clusters import sync
from apps.clusters.models import Pod
from tests.factories import LessonFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_team_pages_need_login(client, synced):
    assert client.get("/teams/payments/").status_code == 302


def test_the_team_list_puts_my_teams_first_and_helps_teamless_users(client_for, alice, teams):
    html = client_for(alice).get("/teams/").content.decode()
    assert html.index("Your teams") < html.index("Other teams")
    lonely = client_for(UserFactory()).get("/teams/").content.decode()
    assert "You are not in a team yet" in lonely


def test_the_team_page_shows_problems_first_with_the_lesson_that_explains(client_for, alice, synced):
    lesson = LessonFactory(title="Debugging failing pods", related_reasons=["ImagePullBackOff", "OOMKilled"])
    html = client_for(alice).get("/teams/payments/").content.decode()
    assert "fraud-scorer" in html and "checkout-api" in html
    assert html.index("Problems (") < html.index("checkout-api")
    assert "Killed for using too much memory" in html
    assert f"/learn/{lesson.phase.slug}/{lesson.slug}/" in html
    assert "synced" in html and "s ago" in html
    assert "indexer" not in html  # search's pod, not payments'


def test_page_views_make_no_kubernetes_api_requests(client_for, alice, synced, sim):
    sim.reset_requests()
    client = client_for(alice)
    for url in ["/teams/", "/teams/payments/", "/teams/search/"]:
        assert client.get(url).status_code == 200
    assert client.get("/teams/payments/", HTTP_HX_REQUEST="true").status_code == 200
    pod = Pod.objects.filter(namespace="payments").first()
    assert client.get(f"/teams/payments/pods/demo/payments/{pod.name}/").status_code == 200
    assert client.get("/teams/payments/workloads/demo/payments/deployment/checkout-api/").status_code == 200
    assert sim.requests.total == 0


def test_the_htmx_poll_gets_only_the_live_fragment(client_for, alice, synced):
    response = client_for(alice).get("/teams/payments/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="live"') and "<html" not in html
    # Polls every 5 s while the tab is visible (static/js/live.js: no eval under the CSP).
    assert 'hx-trigger="every 5s" data-poll-while="visible"' in html


def test_a_kind_error_is_shown_where_it_applies(client_for, alice, cluster, sim):
    sim.add_fault(r"/apis/apps/v1/deployments", status=403)
    sync.cluster_sync(cluster=cluster)
    html = client_for(alice).get("/teams/payments/").content.decode()
    assert "Could not read <strong>deployments</strong>" in html and "forbidden" in html
    assert "fraud-scorer" in html  # pods still show


def test_a_failed_sync_says_the_data_is_stale(client_for, alice, synced, sim):
    sim.stop()
    sync.cluster_sync(cluster=synced)
    html = client_for(alice).get("/teams/payments/").content.decode()
    assert "stale: last sync failed" in html


def test_filters_narrow_to_problems(client_for, alice, synced):
    everything = client_for(alice).get("/teams/payments/").content.decode()
    assert "checkout-api" in everything
    html = client_for(alice).get("/teams/payments/?status=problems").content.decode()
    assert "fraud-scorer" in html
    assert "checkout-api" not in html


def test_the_pod_page_shows_containers_without_env_values_and_links_logs(client_for, alice, synced):
    synced.logs_url_template = "https://grafana.example.com/explore?left={query}"
    synced.save()
    pod = Pod.objects.filter(namespace="payments", name__startswith="checkout-api").first()
    html = client_for(alice).get(f"/teams/payments/pods/demo/payments/{pod.name}/").content.decode()
    assert "Readiness probe" in html and "preStop" in html
    assert "AWS_STS_REGIONAL_ENDPOINTS</code>=regional" in html
    assert "https://grafana.example.com/explore?left=%7Bnamespace%3D%22payments%22%2C%20pod%3D%22" in html


def test_another_teams_namespace_is_404_on_my_team_url(client_for, alice, synced):
    pod = Pod.objects.filter(namespace="search").first()
    response = client_for(alice).get(f"/teams/payments/pods/demo/search/{pod.name}/")
    assert response.status_code == 404


def test_members_only_mode_hides_other_teams(client_for, alice, synced, settings):
    settings.SHIRUBE_TEAM_PAGES_MEMBERS_ONLY = True
    client = client_for(alice)
    assert client.get("/teams/search/").status_code == 404
    assert client.get("/teams/payments/").status_code == 200


def test_team_page_queries_do_not_grow_with_pods(client_for, alice, synced, sim):
    from kubesim import objects as o

    client = client_for(alice)
    from django.core.cache import cache

    client.get("/teams/payments/")
    cache.clear()  # measure a full render, not the cached body
    with CaptureQueriesContext(connection) as small_ctx:
        client.get("/teams/payments/")
    small = len(small_ctx.captured_queries)  # read now: later requests reset the log
    for i in range(40):
        w = o.deployment("payments", f"extra-{i}", "registry.example.com/extra:1.0", 2)
        for obj in w.objects():
            sim.store.apply(obj)
    sync.cluster_sync(cluster=synced)
    assert Pod.objects.filter(namespace="payments").count() > 60
    cache.clear()
    with CaptureQueriesContext(connection) as large_ctx:
        client.get("/teams/payments/")
    large = len(large_ctx.captured_queries)
    assert 0 < small == large, (small, large)


def test_sres_see_namespace_ownership_conflicts(client_for, alice, synced, teams, sre):
    from apps.clusters.models import TeamNamespace
    from apps.clusters.ownership import namespaces_assign_teams

    TeamNamespace.objects.create(team=teams["search"], cluster=synced, namespace="payments")
    namespaces_assign_teams(cluster=synced)
    sre_html = client_for(sre).get("/teams/payments/").content.decode()
    assert "Namespace ownership conflict" in sre_html and "payments, search" in sre_html
    alice_html = client_for(alice).get("/teams/payments/").content.decode()
    assert "Namespace ownership conflict" not in alice_html


def test_polls_between_syncs_are_served_from_the_cache_and_a_sync_refreshes(client_for, alice, synced, sim):
    client = client_for(alice)
    first = client.get("/teams/payments/", HTTP_HX_REQUEST="true").content.decode()
    with CaptureQueriesContext(connection) as ctx:
        again = client.get("/teams/payments/", HTTP_HX_REQUEST="true").content.decode()
    cached_queries = len(ctx.captured_queries)
    assert again == first
    assert cached_queries <= 5, [q["sql"] for q in ctx.captured_queries]
    name = next(p for p in sim.store.list("pods", "payments") if "checkout-api" in p["metadata"]["name"])
    sim.store.update("pods", "payments", name["metadata"]["name"], lambda p: o_crash(p), status_only=True)
    sync.cluster_sync(cluster=synced)
    after = client.get("/teams/payments/", HTTP_HX_REQUEST="true").content.decode()
    assert name["metadata"]["name"] in after and "Crashing and restarting" in after
    assert "Crashing and restarting" not in first.split(name["metadata"]["name"])[-1][:200]


def o_crash(pod):
    from kubesim import objects as o

    return o.crashloop(pod, 7)


def test_problem_links_cost_no_query_per_problem_pod(client_for, alice, cluster, sim):
    from django.core.cache import cache

    from kubesim import objects as o

    sync.cluster_sync(cluster=cluster)
    client = client_for(alice)
    client.get("/teams/payments/")
    cache.clear()
    with CaptureQueriesContext(connection) as before_ctx:
        client.get("/teams/payments/")
    before = len(before_ctx.captured_queries)
    for pod in [p for p in sim.store.list("pods", "payments") if "checkout-api" in p["metadata"]["name"]]:
        sim.store.update(
            "pods", "payments", pod["metadata"]["name"], lambda p: o.crashloop(p, 9), status_only=True
        )
    sync.cluster_sync(cluster=cluster)
    cache.clear()
    with CaptureQueriesContext(connection) as after_ctx:
        html = client.get("/teams/payments/").content.decode()
    assert html.count("Crashing and restarting") >= 4
    assert len(after_ctx.captured_queries) == before, (before, len(after_ctx.captured_queries))


def test_the_team_page_shows_the_team_s_latest_actions(client_for, alice, synced, teams):
    from apps.audit.services import audit_record

    audit_record(actor=alice, team=teams["payments"], action="environment.deploy", outcome="succeeded",
                 target="demo/payments-staging/Environment/checkout-api-staging", parameters={"tag": "v1"})  # fmt: skip
    audit_record(
        actor=alice, team=teams["search"], action="flux.suspend", outcome="succeeded", target="elsewhere"
    )
    page = client_for(alice).get("/teams/payments/").content.decode()
    assert "environment.deploy" in page and "checkout-api-staging" in page
    assert "flux.suspend" not in page
    poll = client_for(alice).get("/teams/payments/", headers={"HX-Request": "true"}).content.decode()
    assert "environment.deploy" not in poll  # the poll carries the live part only
