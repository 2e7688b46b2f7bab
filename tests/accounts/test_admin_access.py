"""Who may open which admin page: every registered ModelAdmin's changelist, add and change pages.

The table below is the expectation, written out; a model registered in the admin without a
row fails `test_every_admin_page_is_in_the_table`, so a new admin cannot go unmapped. SREs are
not superusers: their group's permissions are derived from the installed apps (issue 13),
except what would show one learner's doing or hand out raw permissions.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import SRE_GROUP, GroupMapping, IdpIdentity
from apps.accounts.services import user_make_sre
from apps.api.services import token_create
from apps.audit.services import audit_record
from apps.clusters.models import Cluster, Namespace, SyncRun, TeamNamespace
from apps.environments.models import Approval, Deployment, Environment
from apps.lessons.models import Progress, StuckFlag
from apps.notifications.models import Notification, SlackLink
from apps.readiness.models import Finding, Waiver
from tests.factories import (
    LessonFactory,
    MembershipFactory,
    QuestionFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

FULL = {"changelist": 200, "add": 200, "change": 200}  # change: the form, editable
VIEW = {"changelist": 200, "add": 403, "change": 200}  # change: the page, read-only
NONE = {"changelist": 403, "add": 403, "change": 403}

# What an SRE may open. Developers (not staff) are sent to the login page everywhere, and a
# staff account without the SRE role gets 403 everywhere (see the tests below the table).
SRE_ACCESS = {
    "accounts.team": FULL,
    "accounts.membership": FULL,
    "accounts.groupmapping": FULL,
    "accounts.idpidentity": VIEW,
    "auth.user": FULL,  # through a form that cannot grant superuser or raw permissions
    "auth.group": NONE,  # groups carry raw permissions
    "lessons.phase": FULL,
    "lessons.lesson": FULL,
    "lessons.question": FULL,
    "lessons.stuckflag": VIEW,  # comments are read, their authors hidden (docs/security.md)
    "lessons.progress": VIEW,
    "clusters.cluster": FULL,
    "clusters.teamnamespace": FULL,
    "clusters.namespace": {"changelist": 200, "add": 403, "change": 200},
    "clusters.syncrun": {"changelist": 200, "add": 403, "change": 200},
    "audit.auditevent": VIEW,
    "readiness.waiver": FULL,
    "readiness.finding": VIEW,
    "environments.environment": FULL,
    "environments.deployment": VIEW,
    "environments.approval": VIEW,
    "notifications.notification": VIEW,  # the outbox is written by the events themselves
    "notifications.slacklink": VIEW,  # read and deleted (a person links again), never edited
    "api.apitoken": VIEW,  # made on the settings pages (the value is shown once); SREs revoke
}

# Models whose rows are one learner's doing: no admin page at all, and no SRE permission.
PRIVATE = ["lessons.quizattempt", "lessons.checklisttick"]


def _label(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


@pytest.fixture
def rows(db):
    """One object of each registered model, for its change page."""
    team = TeamFactory(slug="payments")
    member = MembershipFactory(team=team)
    lesson = LessonFactory()
    cluster = Cluster.objects.create(name="demo", connection="kubeconfig", kubeconfig_path="/nonexistent")
    environment = Environment.objects.create(
        team=team, app="checkout-api", stage="staging", cluster=cluster, namespace="payments-staging",
        kustomization="flux-system/payments-staging", repo_url="https://git.example.com/gitops.git",
        kustomization_path="apps/payments/staging/kustomization.yaml", image="ghcr.io/acme/checkout-api",
    )  # fmt: skip
    now = timezone.now()
    objects = [
        team, member, member.user, Group.objects.create(name="readers"), lesson, lesson.phase,
        QuestionFactory(lesson=lesson),
        GroupMapping.objects.create(idp_group="/eng/payments", role="member", team=team),
        IdpIdentity.objects.create(user=UserFactory(), issuer="https://idp.example.com", subject="s-1"),
        StuckFlag.objects.create(user=member.user, lesson=lesson, comment="lost"),
        Progress.objects.create(user=member.user, lesson=lesson),
        cluster, TeamNamespace.objects.create(team=team, cluster=cluster, namespace="payments-staging"),
        Namespace.objects.create(cluster=cluster, name="payments-staging", uid="ns-1", resource_version="1"),
        SyncRun.objects.create(cluster=cluster),
        audit_record(actor=None, team=team, action="flux.reconcile", outcome="requested", target="x"),
        Waiver.objects.create(rule="probes", cluster=cluster, reason="legacy", expires_at=now + timedelta(days=9)),
        Finding.objects.create(cluster=cluster, namespace="payments", workload_kind="Deployment",
                               workload_name="api", workload_uid="u", rule="probes", severity="high"),
        environment,
        Deployment.objects.create(environment=environment, kind="deploy", tag="v1", idempotency_key="k"),
        Approval.objects.create(environment=environment, tag="v1", requested_by=member.user,
                                expires_at=now + timedelta(hours=1)),
        Notification.objects.create(kind="approval.requested", team=team, title="v1 needs an approval"),
        SlackLink.objects.create(user=member.user, slack_team_id="T1", slack_user_id="U1", via="code"),
        token_create(by=member.user, name="ci", scopes=["read"])[0],
    ]  # fmt: skip
    return {_label(type(obj)): obj for obj in objects}


def _pages(label: str, obj) -> dict[str, str]:
    app_label, model_name = label.split(".")
    return {
        "changelist": reverse(f"admin:{app_label}_{model_name}_changelist"),
        "add": reverse(f"admin:{app_label}_{model_name}_add"),
        "change": reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk]),
    }


def test_every_admin_page_is_in_the_table():
    registered = {_label(model) for model in admin.site._registry}
    assert registered == set(SRE_ACCESS), "map every registered admin in SRE_ACCESS"
    assert not registered & set(PRIVATE)


def test_an_sre_opens_what_the_table_says_and_nothing_else(client_for, sre, rows):
    client = client_for(sre)
    seen = {}
    for label in SRE_ACCESS:
        for page, url in _pages(label, rows[label]).items():
            seen[(label, page)] = client.get(url).status_code
    wanted = {(label, page): status for label, pages in SRE_ACCESS.items() for page, status in pages.items()}
    assert seen == wanted


def test_the_sre_admin_index_lists_environments_and_people(client_for, sre):
    html = client_for(sre).get("/admin/").content.decode()
    assert "/admin/environments/environment/" in html and "/admin/auth/user/" in html
    assert "/admin/auth/group/" not in html


def test_view_only_pages_cannot_be_changed_by_an_sre(client_for, sre, rows):
    client = client_for(sre)
    for label, pages in SRE_ACCESS.items():
        if pages is not VIEW:
            continue
        url = _pages(label, rows[label])["change"]
        assert client.post(url, {}).status_code == 403, label


@pytest.mark.parametrize("staff", [False, True], ids=["developer", "staff without the SRE role"])
def test_a_developer_opens_no_admin_page(client_for, rows, staff):
    developer = MembershipFactory(team=rows["accounts.team"], user=UserFactory(is_staff=staff)).user
    client = client_for(developer)
    for label in SRE_ACCESS:
        for page, url in _pages(label, rows[label]).items():
            status = client.get(url).status_code
            assert status == (403 if staff else 302), (label, page, status)


def test_private_models_are_never_in_the_sre_group(sre):
    group = Group.objects.get(name=SRE_GROUP)
    held = {f"{p.content_type.app_label}.{p.content_type.model}" for p in group.permissions.all()}
    assert not held & {*PRIVATE, "auth.group", "auth.permission"}
    assert set(
        group.permissions.filter(content_type__model="stuckflag").values_list("codename", flat=True)
    ) == {"view_stuckflag", "delete_stuckflag"}
    assert set(group.permissions.filter(content_type__model="user").values_list("codename", flat=True)) == {
        "view_user",
        "add_user",
        "change_user",  # people are deactivated, never deleted
    }


def test_the_sre_group_covers_every_app_of_the_portal_without_a_list(sre):
    """Derived, not listed: every model of every `apps.*` app (but the private ones) is covered."""
    from django.apps import apps

    group = Group.objects.get(name=SRE_GROUP)
    for config in apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        for model in config.get_models():
            label = _label(model)
            if label in PRIVATE or label == "lessons.stuckflag":
                continue
            codenames = set(
                group.permissions.filter(content_type__app_label=config.label,
                                         content_type__model=model._meta.model_name)
                .values_list("codename", flat=True)
            )  # fmt: skip
            assert codenames == {
                f"{a}_{model._meta.model_name}" for a in ("add", "change", "delete", "view")
            }, label


def test_migrate_gives_the_sre_group_the_permissions_of_a_new_model(sre):
    """What happens when an app gains a model: its permissions appear at migrate, and the group follows."""
    group = Group.objects.get(name=SRE_GROUP)
    new = Permission.objects.filter(content_type__app_label="environments", codename="view_environment")
    group.permissions.remove(*new)  # as if the model had come after the group was last derived
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    assert group.permissions.filter(codename="view_environment").exists()


def test_refresh_does_not_create_the_group_before_the_first_sre(db):
    from apps.accounts.services import sre_group_refresh

    assert sre_group_refresh() is None and not Group.objects.filter(name=SRE_GROUP).exists()
    user_make_sre(user=UserFactory())
    assert Group.objects.filter(name=SRE_GROUP).exists()


# -- the user admin, for SREs ----------------------------------------------------------------


def test_an_sre_edits_people_but_cannot_make_a_superuser_or_grant_raw_permissions(client_for, sre):
    dana = UserFactory(username="dana")
    permission = Permission.objects.get(codename="delete_auditevent")
    response = client_for(sre).post(f"/admin/auth/user/{dana.pk}/change/", {
        "username": "dana", "first_name": "Dana", "last_name": "", "email": "dana@example.com",
        "is_active": "on", "is_superuser": "on", "is_staff": "on", "user_permissions": [permission.pk],
        "groups": [Group.objects.get(name=SRE_GROUP).pk],
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    dana.refresh_from_db()
    assert dana.first_name == "Dana" and dana.email == "dana@example.com"
    assert not dana.is_superuser and not dana.is_staff
    assert not dana.user_permissions.exists() and not dana.groups.exists()
    form = client_for(sre).get(f"/admin/auth/user/{dana.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in form and 'name="user_permissions"' not in form
    assert 'name="groups"' not in form and 'name="password"' not in form


def test_an_sre_makes_and_unmakes_an_sre_in_the_user_admin_audited(client_for, sre):
    from apps.accounts.permissions import is_sre
    from apps.audit.models import AuditEvent

    dana = UserFactory(username="dana")
    client = client_for(sre)
    data = {"username": "dana", "first_name": "", "last_name": "", "email": "", "is_active": "on"}
    assert client.post(f"/admin/auth/user/{dana.pk}/change/", {**data, "sre": "on"}).status_code == 302
    dana = type(dana).objects.get(pk=dana.pk)
    assert is_sre(dana) and dana.is_staff
    assert client.post(f"/admin/auth/user/{dana.pk}/change/", data).status_code == 302
    dana = type(dana).objects.get(pk=dana.pk)
    assert not is_sre(dana) and not dana.is_staff
    changes = [
        e.parameters["changes"] for e in AuditEvent.objects.filter(action="config.user", target="dana")
    ]
    assert {"is_staff": ["False", "True"], "groups": {"added": ["sre"], "removed": []}} in changes
    assert {"is_staff": ["True", "False"], "groups": {"added": [], "removed": ["sre"]}} in changes


def test_an_sre_cannot_touch_a_superuser_or_set_anyones_password(client_for, sre):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    dana = UserFactory(username="dana")
    client = client_for(sre)
    assert client.post(f"/admin/auth/user/{root.pk}/change/", {"username": "root"}).status_code == 403
    assert client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    for user in (root, dana):
        url = f"/admin/auth/user/{user.pk}/password/"
        assert client.get(url).status_code == 403
        response = client.post(url, {"password1": "x-Long-enough-1", "password2": "x-Long-enough-1",
                                     "usable_password": "true"})  # fmt: skip
        assert response.status_code == 403
    root.refresh_from_db()
    assert root.is_superuser and not root.check_password("x-Long-enough-1")


def test_an_sre_editing_an_environment_still_cannot_point_git_at_a_command(client_for, sre, rows):
    """The git-URL check of issue 11 stands behind the SREs' new access to environments."""
    environment = rows["environments.environment"]
    url = f"/admin/environments/environment/{environment.pk}/change/"
    client = client_for(sre)
    form = client.get(url)
    assert form.status_code == 200
    data = {
        "team": environment.team_id, "app": environment.app, "stage": environment.stage,
        "cluster": environment.cluster_id, "namespace": environment.namespace,
        "kustomization": environment.kustomization, "repo_url": "ext::sh -c touch% /tmp/pwned",
        "branch": "main", "kustomization_path": environment.kustomization_path, "image": environment.image,
        "required_role": "member", "image_policy": "", "image_repository": "",
    }  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    environment.refresh_from_db()
    assert environment.repo_url == "https://git.example.com/gitops.git"
    data["repo_url"] = "https://git.example.com/other.git"
    assert client.post(url, data).status_code == 302
    environment.refresh_from_db()
    assert environment.repo_url == "https://git.example.com/other.git"
