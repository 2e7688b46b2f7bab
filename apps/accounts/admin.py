from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from apps.accounts.models import GroupMapping, IdpIdentity, Membership, Team
from apps.accounts.permissions import is_sre
from apps.accounts.services import user_make_sre, user_revoke_sre
from apps.core.config_audit import ConfigAuditAdmin


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]
    readonly_fields = ["managed_by_idp"]


@admin.register(Team)
class TeamAdmin(ConfigAuditAdmin):
    list_display = ["name", "slug", "member_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, team):
        return team.memberships.count()


@admin.register(Membership)
class MembershipAdmin(ConfigAuditAdmin):
    list_display = ["user", "team", "role", "managed_by_idp", "joined_at"]
    list_filter = ["team", "role", "managed_by_idp"]
    readonly_fields = ["managed_by_idp"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]


@admin.register(GroupMapping)
class GroupMappingAdmin(ConfigAuditAdmin):
    """What each identity-provider group grants; applied to each person at their next sign-in."""

    list_display = ["idp_group", "role", "team"]
    list_filter = ["role", "team"]
    search_fields = ["idp_group", "team__name", "team__slug"]
    autocomplete_fields = ["team"]


@admin.register(IdpIdentity)
class IdpIdentityAdmin(admin.ModelAdmin):
    """Who came from the identity provider, and the groups it sent at their last sign-in (read-only)."""

    list_display = ["user", "issuer", "subject", "sre_from_idp", "last_sign_in_at"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "sre_from_idp", "groups", "created_at", "last_sign_in_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Django's own user and group admins, with their changes of roles and permissions audited
# (who is staff, superuser or in the SRE group).
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


class SREUserChangeForm(UserChangeForm):
    """The user form SREs get: who the person is, whether the account is active, and whether they are
    an SRE. Never superuser, staff alone, groups or raw permissions (docs/decisions.md, issue 13)."""

    sre = forms.BooleanField(
        label="SRE", required=False,
        help_text="SREs publish lessons and set up clusters and environments here (staff, in the SRE group).",
    )  # fmt: skip

    class Meta(UserChangeForm.Meta):
        fields = ["username", "first_name", "last_name", "email", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.pop("password", None)  # setting someone's password is for superusers only
        self.fields["sre"].initial = bool(self.instance.pk) and is_sre(self.instance)


@admin.register(get_user_model())
class AuditedUserAdmin(ConfigAuditAdmin, UserAdmin):
    """Django's user admin, audited; for SREs (not superusers) narrowed to SREUserChangeForm.

    An SRE may add people, change their names, e-mail and active flag and make or unmake SREs;
    superusers' accounts and everyone's passwords stay with superusers.
    """

    sre_fieldsets = (
        (None, {"fields": ("username",)}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Role", {"fields": ("is_active", "sre")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not request.user.is_superuser:
            return self.sre_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not request.user.is_superuser:
            return ["last_login", "date_joined"]
        return super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None and not request.user.is_superuser:
            kwargs["form"] = SREUserChangeForm
        return super().get_form(request, obj, **kwargs)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False  # nobody below a superuser edits one
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        # Setting a password would let an SRE sign in as that person (a lead, to approve their
        # own request): for superusers only. People normally sign in through the identity provider.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if "sre" not in form.cleaned_data:
            return
        user = form.instance
        if form.cleaned_data["sre"] and not is_sre(user):
            user_make_sre(user=user, by=request.user)
        elif not form.cleaned_data["sre"] and is_sre(user):
            user_revoke_sre(user=user, by=request.user)


@admin.register(Group)
class AuditedGroupAdmin(ConfigAuditAdmin, GroupAdmin):
    pass
