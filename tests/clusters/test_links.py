"""Link templates: http(s) only, bare named placeholders, never Python's format mini-language."""

from __future__ import annotations

import pytest

from apps.clusters.links import DATADOG_PLACEHOLDERS, LOGS_PLACEHOLDERS, link_render, link_template_problems

VALUES = {"cluster": "demo", "namespace": "payments", "pod": "checkout-1", "query": '{pod="checkout-1"}'}


def test_a_grafana_template_renders_with_each_value_url_encoded():
    template = "https://grafana.example.com/explore?orgId=1&left={query}&c={cluster}"
    assert link_template_problems(template, LOGS_PLACEHOLDERS) == []
    assert link_render(template, LOGS_PLACEHOLDERS, **VALUES) == (
        "https://grafana.example.com/explore?orgId=1&left=%7Bpod%3D%22checkout-1%22%7D&c=demo"
    )


def test_literal_braces_stay_literal():
    template = "https://dd.example.com/logs?q={{kube_namespace}}:{namespace}"
    assert link_render(template, DATADOG_PLACEHOLDERS, **VALUES) == (
        "https://dd.example.com/logs?q={kube_namespace}:payments"
    )


@pytest.mark.parametrize(
    "template, says",
    [
        ("javascript:alert(document.cookie)//{pod}", "Start with http:// or https://"),
        ("JavaScript:alert(1)", "Start with http:// or https://"),
        ("data:text/html,<script>alert(1)</script>", "no spaces, control characters, quotes or angle"),
        ("//evil.example.com/{pod}", "Start with http:// or https://"),
        ("https://{cluster}.evil.example.com/", "Start with http:// or https://"),
        ("https://grafana.example.com@evil.example.com/{pod}", "Start with http:// or https://"),
        ("https://grafana.example.com/{pod:>999999999}", "Write {pod} bare"),
        ("https://grafana.example.com/{pod!r}", "Write {pod} bare"),
        ("https://grafana.example.com/{pod.__class__.__mro__}", "Unknown placeholder"),
        ("https://grafana.example.com/{pod[0]}", "Unknown placeholder"),
        ("https://grafana.example.com/{0}", "Unknown placeholder"),
        ("https://grafana.example.com/{}", "Unknown placeholder"),
        ("https://grafana.example.com/{query}", "Unknown placeholder"),  # Datadog has no {query}
        ("https://grafana.example.com/{pod", "Braces do not match"),
        ("https://grafana.example.com/ {pod}", "no spaces"),
        ("https://grafana.example.com/\x00{pod}", "control characters"),
    ],
)
def test_templates_breaking_the_rule_are_refused_and_never_rendered(template, says):
    problems = link_template_problems(template, DATADOG_PLACEHOLDERS)
    assert any(says in p for p in problems), problems
    assert link_render(template, DATADOG_PLACEHOLDERS, **VALUES) == ""
