"""Every form and query parameter against hostile input, on PostgreSQL.

Each case sends one hostile value in one field through the real view, service and
database: the answer is a 400 that says what is wrong (never a 500), nothing is
written but, for the audited actions (Flux and environments), an audit row that
records the refusal with a printable, bounded form of the value.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.clusters.models import FluxAction, FluxObject
from apps.environments.models import Approval, Deployment
from apps.lessons.models import QuizAttempt, StuckFlag
from tests.factories import ChecklistItemFactory, quiz_lesson

pytestmark = pytest.mark.django_db

HOSTILE = {
    "nul": "before\x00after",
    "escape": "\x1b[2Jcleared",
    "bell": "ring\x07",
    "bidi": "fine\u202etxt.exe",
    "huge": "x" * 100_000,
}
# What the answer must say, by hostile value (a field may word it its own way: see FIELDS).
SAYS = {
    "nul": "control character",
    "escape": "control character",
    "bell": "control character",
    "bidi": "reading direction",
    "huge": "too long",
}


@pytest.fixture
def world(envs, people, teams):
    """The payments environments, a staging Kustomization of payments (members may act on it), and a
    lesson with a quiz and a checklist."""
    FluxObject.objects.create(
        cluster=envs["cluster"], namespace="payments-staging", name="checkout-api", kind="Kustomization",
        uid="k-checkout", resource_version="1", api_version="kustomize.toolkit.fluxcd.io/v1",
    )  # fmt: skip
    lesson = quiz_lesson()
    item = ChecklistItemFactory(lesson=lesson)
    return {"lesson": lesson, "item": item, **envs}


def _flux(action="suspend"):
    return f"/teams/payments/flux/demo-rows/payments-staging/Kustomization/checkout-api/{action}/"


def _env(name, env, **kwargs):
    return reverse(f"environments:{name}", args=[env.team.slug, env.slug], kwargs=kwargs or None)


def _lesson(lesson, what):
    return reverse(f"lessons:{what}", args=[lesson.phase.slug, lesson.slug])


# field: (who, method, url(world), data(world, value), audited action or None, nothing-written check)
FIELDS = {
    "flux reason": (
        "member", "post", lambda w: _flux(), lambda w, v: {"reason": v}, "flux.suspend",
        lambda: not FluxAction.objects.exists(),
    ),
    "flux reason, not a member": (
        "other team", "post", lambda w: _flux(), lambda w, v: {"reason": v}, "flux.suspend",
        lambda: not FluxAction.objects.exists(),
    ),
    "deploy tag": (
        "member", "post", lambda w: _env("deployments", w["staging"]),
        lambda w, v: {"kind": "deploy", "tag": v, "idempotency_key": uuid.uuid4().hex}, "environment.deploy",
        lambda: not Deployment.objects.exists(),
    ),
    "deploy kind": (
        "member", "post", lambda w: _env("deployments", w["staging"]),
        lambda w, v: {"kind": v, "tag": "v2.16.0", "idempotency_key": uuid.uuid4().hex}, "environment.request",
        lambda: not Deployment.objects.exists(),
    ),
    "deploy request key": (
        "member", "post", lambda w: _env("deployments", w["staging"]),
        lambda w, v: {"kind": "deploy", "tag": "v2.16.0", "idempotency_key": v}, "environment.deploy",
        lambda: not Deployment.objects.exists(),
    ),
    "approval tag": (
        "member", "post", lambda w: _env("approvals", w["production"]), lambda w, v: {"tag": v, "reason": "ok"},
        "environment.approval", lambda: not Approval.objects.exists(),
    ),
    "approval reason": (
        "member", "post", lambda w: _env("approvals", w["production"]),
        lambda w, v: {"tag": "v2.15.0", "reason": v}, "environment.approval", lambda: not Approval.objects.exists(),
    ),
    "stuck comment": (
        "member", "post", lambda w: _lesson(w["lesson"], "stuck"), lambda w, v: {"comment": v}, None,
        lambda: not StuckFlag.objects.exists(),
    ),
    "quiz answer": (
        "member", "post", lambda w: _lesson(w["lesson"], "quiz"),
        lambda w, v: {f"q{w['lesson'].questions.first().pk}": v}, None, lambda: not QuizAttempt.objects.exists(),
    ),
    "checklist value": (
        "member", "post",
        lambda w: reverse("lessons:checklist", args=[w["lesson"].phase.slug, w["lesson"].slug, w["item"].pk]),
        lambda w, v: {"done": v}, None, lambda: not w_ticks(),
    ),
    "search": ("member", "get", lambda w: reverse("lessons:search"), lambda w, v: {"q": v}, None, lambda: True),
    "team page namespace filter": (
        "member", "get", lambda w: reverse("clusters:team", args=["payments"]), lambda w, v: {"namespace": v},
        None, lambda: True,
    ),
    "team progress filter": (
        "sre", "get", lambda w: reverse("lessons:teams"), lambda w, v: {"team": v}, None, lambda: True,
    ),
}  # fmt: skip
# Where a field words the refusal its own way, whatever the value.
OWN_WORDS = {
    "deploy tag": "not a valid image tag",
    "deploy kind": "Unknown request",
    "approval tag": "not a valid image tag",
    "quiz answer": "do not fit this quiz",
    "checklist value": "Unknown checkbox value",
    "team progress filter": "Unknown team",
}


# Django's own form field words a NUL its way.
SAYS_OVERRIDE = {("stuck comment", "nul"): "Null characters are not allowed"}


def w_ticks() -> bool:
    from apps.lessons.models import ChecklistTick

    return ChecklistTick.objects.exists()


def actions():
    """The audit events of actions (the fixtures' own set-up is audited too, as config.*)."""
    return AuditEvent.objects.exclude(action__startswith="config.")


def _printable(text: str) -> bool:
    return not any(ord(c) < 32 and c not in "\n\t" for c in text) and "\u202e" not in text


@pytest.mark.parametrize("value_name", list(HOSTILE))
@pytest.mark.parametrize("field", list(FIELDS))
def test_hostile_input_is_refused_clearly_and_audited(client_for, world, people, field, value_name):
    assert connection.vendor == "postgresql"
    who, method, url, data, audited, nothing_written = FIELDS[field]
    value = HOSTILE[value_name]
    client = client_for(people[who])
    response = getattr(client, method)(url(world), data(world, value), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 400, (field, value_name, response.status_code)
    said = SAYS_OVERRIDE.get((field, value_name), SAYS[value_name])
    # The middleware answers first for control characters in an address; fields word the rest.
    own = OWN_WORDS.get(field) if not (method == "get" and value_name != "huge") else None
    assert (said in body) or (own is not None and own in body), (field, value_name, body[:2000])
    assert nothing_written(), field
    events = list(actions())
    if audited is None:
        assert events == []  # learning is never in the audit log
        return
    assert [(e.action, e.outcome) for e in events] == [(audited, "failed")], field
    event = events[0]
    for text in (event.message, event.target, event.action, *map(str, event.parameters.values())):
        assert _printable(text) and len(text) <= 2000, text[:200]
    assert event.message  # says why


def test_free_text_keeps_newlines_and_tabs(client_for, world, people):
    client_for(people["member"]).post(_flux(), {"reason": "step 1\r\nstep 2\tdone"})
    assert FluxAction.objects.get().reason == "step 1\nstep 2\tdone"


def test_a_flux_reason_over_500_characters_is_refused_not_cut(client_for, world, people):
    response = client_for(people["member"]).post(_flux(), {"reason": "y" * 501}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "at most 500 characters (it has 501)" in response.content.decode()
    assert not FluxAction.objects.exists()
    (event,) = actions()
    assert (event.action, event.outcome) == ("flux.suspend", "failed")
    # What was sent, cut to the audit's bound with a note of its length.
    assert event.parameters["reason"].startswith("y" * 400)
    assert event.parameters["reason"].endswith("(501 characters)")


def test_an_approval_reason_over_500_characters_is_refused_not_cut(client_for, world, people):
    response = client_for(people["member"]).post(
        _env("approvals", world["production"]), {"tag": "v2.15.0", "reason": "z" * 501}
    )
    assert response.status_code == 400 and "at most 500 characters" in response.content.decode()
    assert not Approval.objects.exists()


def test_a_refused_stuck_comment_is_kept_in_the_form(client_for, world, people):
    response = client_for(people["member"]).post(_lesson(world["lesson"], "stuck"), {"comment": "w" * 2001})
    body = response.content.decode()
    assert response.status_code == 400
    assert "at most 2000 characters" in body and "w" * 2001 in body
    assert not StuckFlag.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/teams/payments/pods/demo-rows/pay%00ments/checkout-1/",
        "/teams/payments/workloads/demo-rows/payments/deployment/check%00out/",
        "/teams/payments/flux/demo-rows/payments/Kustomization/checkout-api%00/reconcile/",
        "/admin/audit/auditevent/?action=%00",
        "/admin/lessons/lesson/?status=%1b",
    ],
)
def test_control_characters_in_an_address_are_a_400(client_for, world, people, sre, path):
    client = client_for(sre)
    response = client.post(path) if "/reconcile/" in path else client.get(path)
    assert response.status_code == 400
    assert "control character" in response.content.decode()
