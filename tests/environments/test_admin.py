"""Environments in the admin: changes to their settings and gates are audit events."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _form_data(environment, **changes) -> dict:
    data = {
        "team": environment.team_id, "app": environment.app, "stage": environment.stage,
        "cluster": environment.cluster_id, "namespace": environment.namespace,
        "kustomization": environment.kustomization, "repo_url": environment.repo_url, "branch": environment.branch,
        "kustomization_path": environment.kustomization_path, "image": environment.image,
        "image_policy": environment.image_policy, "image_repository": environment.image_repository,
        "promotes_from": environment.promotes_from_id or "", "required_role": environment.required_role,
        "required_phases": [p.pk for p in environment.required_phases.all()],
        "requires_approval": "on" if environment.requires_approval else "", "approval_ttl_hours": "",
    }  # fmt: skip
    return {**data, **changes}


@pytest.fixture
def admin_user(db):
    from tests.factories import UserFactory

    # SREs do not edit environments yet (issue 11: not before the git URL is validated); superusers do.
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_changing_an_environments_gates_is_audited_and_shown_to_the_team(
    client_for, admin_user, envs, people
):
    from apps.audit.models import AuditEvent

    production = envs["production"]
    response = client_for(admin_user).post(
        f"/admin/environments/environment/{production.pk}/change/",
        _form_data(production, requires_approval="", required_phases=[], required_role="lead"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    event = AuditEvent.objects.get(action="config.environment")
    assert (event.outcome, event.team, event.target) == ("changed", production.team, production.audit_target)
    assert event.parameters["changes"] == {
        "required_role": ["member", "lead"],
        "requires_approval": ["True", "False"],
        "required_phases": {"added": [], "removed": ["Shipping with Flux"]},
    }
    html = client_for(people["member"]).get("/teams/payments/").content.decode()
    assert "config.environment" in html and "requires approval: True → False" in html
