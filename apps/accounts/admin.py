from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from apps.accounts.models import GroupMapping, IdpIdentity, Membership, Team
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


@admin.register(get_user_model())
class AuditedUserAdmin(ConfigAuditAdmin, UserAdmin):
    pass


@admin.register(Group)
class AuditedGroupAdmin(ConfigAuditAdmin, GroupAdmin):
    pass
