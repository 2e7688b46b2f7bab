"""What the learning gate requires: the whole way there, and new lessons only after a grace period.

Production requires "Shipping with Flux" (flux_phase). Publishing a lesson into it used to take
Promote and Roll back from every developer at once, and the gate counted only the phase's own
lessons, not the prerequisites they need first (issue 13).
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core import timefmt
from apps.environments import gates, services
from apps.lessons import services as lesson_services
from apps.lessons.models import Lesson
from tests.environments.envfixtures import approval, complete_phase, staging_healthy
from tests.factories import LessonFactory, PhaseFactory

pytestmark = pytest.mark.django_db
TAG = "v2.15.0"


def _verdict(user, production, action="promote"):
    return gates.environment_verdict(user=user, environment=production, action=action, tag=TAG,
                                     source_healthy_tag=TAG)  # fmt: skip


def _phases(verdict):
    return next(g for g in verdict.gates if g.key == "phases")


# -- the whole way: prerequisites of prerequisites -------------------------------------------


@pytest.fixture
def chain(flux_phase):
    """Flux lesson 1 needs "Deployments", which needs "Pods", which needs "Containers" (another phase)."""
    basics = PhaseFactory(slug="kubernetes", title="Kubernetes", order=0)
    containers = LessonFactory(phase=basics, slug="containers", title="Containers", order=0)
    pods = LessonFactory(phase=basics, slug="pods", title="Pods", order=1)
    deployments = LessonFactory(phase=basics, slug="deployments", title="Deployments", order=2)
    draft = LessonFactory(phase=basics, slug="draft", title="Draft", order=3, status="draft")
    pods.prerequisites.add(containers, draft)  # an unpublished prerequisite never blocks
    deployments.prerequisites.add(pods)
    flux_phase[1][1].prerequisites.add(deployments)
    return [containers, pods, deployments]


def test_the_gate_counts_and_lists_prerequisites_of_prerequisites(
    client_for, envs, people, flux_phase, chain
):
    gate = _phases(_verdict(people["member"], envs["production"]))
    assert not gate.ok and "5 lessons to go" in gate.message
    assert [lesson.slug for lesson in gate.lessons] == [
        "containers",
        "pods",
        "deployments",
        "flux-0",
        "flux-1",
    ]
    page = client_for(people["member"])
    html = page.get(
        reverse("environments:detail", args=["payments", "checkout-api-production"])
    ).content.decode()
    for title in ("Containers", "Pods", "Deployments", "Flux lesson 0", "Flux lesson 1"):
        assert f">{title}</a>" in html, title


def test_what_is_done_is_left_out_at_any_depth(envs, people, flux_phase, chain):
    containers, pods, _ = chain
    member = people["member"]
    lesson_services.lesson_mark_done(user=member, lesson=containers)
    lesson_services.lesson_mark_done(user=member, lesson=pods)
    gate = _phases(_verdict(member, envs["production"]))
    assert [lesson.slug for lesson in gate.lessons] == ["deployments", "flux-0", "flux-1"]
    # A required lesson already completed needs none of its prerequisites again.
    complete_phase(member, flux_phase[0])
    assert _phases(_verdict(member, envs["production"])).ok


# -- a new lesson waits out its grace period ------------------------------------------------


def _publish_into_flux(flux_phase, sre, **extra) -> Lesson:
    lesson = LessonFactory(phase=flux_phase[0], slug="flux-new", title="Flux alerts", status="draft", **extra)
    return lesson_services.lesson_publish(lesson=lesson, by=sre)


@pytest.fixture
def trusted(envs, people, flux_phase):
    """alice completed the phase, and production runs staging's tag with an approval: she may promote."""
    complete_phase(people["member"], flux_phase[0])
    staging_healthy(envs, TAG)
    approval(envs["production"], tag=TAG, requested_by=people["lead"], approved_by=people["sre"])
    return people["member"]


def test_publishing_a_lesson_into_a_required_phase_takes_no_right_away_at_once(
    envs, people, flux_phase, trusted, client_for
):
    before = timezone.now()
    lesson = _publish_into_flux(flux_phase, people["sre"])
    assert lesson.gates_from is not None and lesson.gates_from >= before
    production = envs["production"]
    verdict = _verdict(trusted, production)
    assert verdict.allowed, verdict.reason
    gate = _phases(verdict)
    due = lesson.gates_from + timedelta(days=14)
    assert gate.upcoming == [lesson] and gate.due == due
    assert f"New: 1 lesson more by {timezone.localtime(due).day} " in gate.message
    # She sees what is now required, and by when, on the environment's page; and can still promote.
    html = client_for(trusted).get(reverse("environments:detail", args=["payments", production.slug])).content
    html = html.decode()
    assert 'data-testid="upcoming-requirements"' in html and ">Flux alerts</a>" in html
    assert f"Newly required here from {timezone.localtime(due):%-d %b %Y}" in html
    deployment = services.deployment_request(user=trusted, environment=production, kind="promote", tag=TAG,
                                             idempotency_key="during-grace")  # fmt: skip
    assert deployment.status == "queued"


def test_after_the_grace_period_the_new_lesson_counts(envs, people, flux_phase, trusted):
    lesson = _publish_into_flux(flux_phase, people["sre"])
    Lesson.objects.filter(pk=lesson.pk).update(gates_from=timezone.now() - timedelta(days=14, minutes=1))
    gate = _phases(_verdict(trusted, envs["production"]))
    assert not gate.ok and gate.lessons == [lesson] and "1 lesson to go" in gate.message
    with pytest.raises(services.RequestRefused, match="1 lesson to go"):
        services.deployment_request(user=trusted, environment=envs["production"], kind="promote", tag=TAG,
                                    idempotency_key="after-grace")  # fmt: skip
    assert AuditEvent.objects.filter(action="environment.promote", outcome="refused").exists()


@pytest.mark.parametrize("days,counts", [(0, True), (3, False)])
def test_each_environment_may_set_its_own_grace(envs, people, flux_phase, trusted, days, counts):
    production = envs["production"]
    production.requirement_grace_days = days
    production.save()
    lesson = _publish_into_flux(flux_phase, people["sre"])
    gate = _phases(_verdict(trusted, production))
    assert gate.ok is not counts
    if not counts:
        assert gate.due == lesson.gates_from + timedelta(days=3)
    Lesson.objects.filter(pk=lesson.pk).update(gates_from=timezone.now() - timedelta(days=3, minutes=1))
    assert not _phases(_verdict(trusted, production)).ok


def test_the_default_grace_is_a_setting(envs, people, flux_phase, trusted, settings):
    settings.SHIRUBE_REQUIREMENT_GRACE_DAYS = 30
    lesson = _publish_into_flux(flux_phase, people["sre"])
    assert _phases(_verdict(trusted, envs["production"])).due == lesson.gates_from + timedelta(days=30)


def test_a_scheduled_lesson_counts_from_its_publish_time_plus_the_grace(envs, people, flux_phase, trusted):
    at = timezone.now() + timedelta(days=2)
    lesson = LessonFactory(phase=flux_phase[0], slug="flux-later", status="draft")
    lesson_services.lesson_publish(lesson=lesson, by=people["sre"], at=at)
    assert lesson.gates_from == at
    Lesson.objects.filter(pk=lesson.pk).update(publish_at=timezone.now() - timedelta(seconds=1))
    assert _phases(_verdict(trusted, envs["production"])).due == at + timedelta(days=14)


def test_a_lesson_in_a_phase_nothing_requires_counts_at_once_when_it_becomes_required(
    envs, people, flux_phase, trusted
):
    """Nobody held a right that depended on it, so there was nothing to protect."""
    other = PhaseFactory(slug="observability", title="Observability")
    lesson = lesson_services.lesson_publish(
        lesson=LessonFactory(phase=other, status="draft"), by=people["sre"]
    )
    assert lesson.gates_from is None


def test_moving_a_published_lesson_into_a_required_phase_is_a_new_requirement(
    client_for, envs, people, flux_phase, trusted
):
    other = PhaseFactory(slug="observability", title="Observability")
    lesson = LessonFactory(phase=other, slug="dashboards", title="Dashboards")
    assert lesson.gates_from is None
    lesson.phase = flux_phase[0]
    lesson_services.lesson_requirement_update(lesson=lesson)
    lesson.save()
    assert lesson.gates_from is not None and _phases(_verdict(trusted, envs["production"])).ok
    # An edit that keeps it where it is does not restart the clock.
    stamped = lesson.gates_from
    lesson.title = "Dashboards and alerts"
    lesson_services.lesson_requirement_update(lesson=lesson)
    lesson.save()
    assert Lesson.objects.get(pk=lesson.pk).gates_from == stamped


def test_a_lesson_published_in_the_admin_form_gets_its_grace_too(
    client_for, envs, people, flux_phase, trusted
):
    lesson = LessonFactory(phase=flux_phase[0], slug="flux-form", title="Flux form", status="draft")
    data = {
        "phase": lesson.phase_id, "order": 5, "title": lesson.title, "slug": lesson.slug, "summary": "",
        "minutes": 10, "body": "Body.", "status": "published", "publish_at_0": "", "publish_at_1": "",
        "owner": "", "last_reviewed": "", "related_reasons": "[]", "related_rules": "[]",
        "questions-TOTAL_FORMS": "0", "questions-INITIAL_FORMS": "0",
        "checklist-TOTAL_FORMS": "0", "checklist-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = client_for(people["sre"]).post(f"/admin/lessons/lesson/{lesson.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    lesson.refresh_from_db()
    assert lesson.status == "published" and lesson.gates_from is not None
    assert _phases(_verdict(trusted, envs["production"])).ok


# -- the SRE sees who would lose which right before publishing --------------------------------


def test_the_admin_says_who_would_lose_which_right_before_publishing(
    client_for, envs, people, flux_phase, trusted
):
    complete_phase(people["lead"], flux_phase[0])  # carol may promote too; dave has not done the phase
    lesson = LessonFactory(phase=flux_phase[0], slug="flux-new", title="Flux alerts", status="draft")
    client = client_for(people["sre"])
    form = client.get(f"/admin/lessons/lesson/{lesson.pk}/change/").content.decode()
    box = form.split('data-testid="publish-impact"', 1)[1].split("</div>", 1)[0]
    assert "payments/checkout-api-production" in box and "a grace of 14 days" in box
    assert "2</strong> people will no longer promote, roll back there: alice, carol" in box
    assert "dave" not in box and "sre-user" not in box  # dave has nothing to lose; SREs are exempt
    # The publish action asks first, with the same box, and publishes only when confirmed.
    data = {"action": "set_published", "_selected_action": [lesson.pk]}
    asked = client.post(reverse("admin:lessons_lesson_changelist"), data).content.decode()
    assert "will no longer promote, roll back there: alice, carol" in asked
    assert Lesson.objects.get(pk=lesson.pk).status == "draft"
    client.post(reverse("admin:lessons_lesson_changelist"), {**data, "confirmed": "yes"})
    lesson.refresh_from_db()
    assert lesson.status == "published" and lesson.gates_from is not None
    # In its grace period the page gives the date it will count from.
    form = client.get(f"/admin/lessons/lesson/{lesson.pk}/change/").content.decode()
    due = lesson.gates_from + timedelta(days=14)
    assert f"counts from <strong>{timefmt.when(due)}</strong>" in form


def test_the_admin_says_so_when_no_environment_requires_the_phase(client_for, people):
    lesson = LessonFactory(status="draft", title="Logs")
    form = client_for(people["sre"]).get(f"/admin/lessons/lesson/{lesson.pk}/change/").content.decode()
    assert "publishing “Logs” changes nobody's rights" in form


def test_a_new_lesson_imported_from_content_gets_its_grace(envs, people, flux_phase, trusted, tmp_path):
    from django.core.management import call_command

    (tmp_path / "03-flux").mkdir()
    (tmp_path / "03-flux" / "_phase.md").write_text("---\ntitle: Shipping with Flux\n---\n")
    (tmp_path / "03-flux" / "09-imported-alerts.md").write_text("---\ntitle: Imported alerts\n---\nBody.\n")
    call_command("load_content", str(tmp_path), stdout=StringIO())
    lesson = Lesson.objects.get(slug="imported-alerts")
    assert lesson.phase == flux_phase[0] and lesson.is_visible()
    assert lesson.gates_from is not None and _phases(_verdict(trusted, envs["production"])).ok
