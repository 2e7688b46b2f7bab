from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

SLUG_VALIDATOR = RegexValidator(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$", "Use a-z, 0-9 and '-'.")

# SREs are the members of this group; they also get admin (staff) access.
SRE_GROUP = "sre"
# The users behind teams' API service tokens (apps.api): no password, in no team, never a person.
SERVICE_GROUP = "service-accounts"


class Team(models.Model):
    slug = models.SlugField(max_length=50, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=100)
    # Where the team's notifications go in Slack (deployments, Flux health, readiness digests).
    slack_channel = models.CharField(
        max_length=30, blank=True,
        validators=[RegexValidator(r"^[CG][A-Z0-9]{6,}$", "A Slack channel id: C0123ABCD.")],
        help_text="The Slack channel id (C…, in the channel's details) for the team's notifications; "
        "invite the Shirube app to it.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        LEAD = "lead", "Lead"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)
    # Set from the identity provider's groups at each sign-in (and removed with them); a
    # membership made by hand is never touched by a sign-in.
    managed_by_idp = models.BooleanField(
        "managed by the identity provider", default=False,
        help_text="Set at each sign-in from the provider's groups: a change here is undone at the next one.",
    )  # fmt: skip

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class IdpIdentity(models.Model):
    """The identity provider's account behind a user: matched on (issuer, subject), never on e-mail.

    E-mail addresses change hands and two people can share one; `sub` is the provider's
    stable, never reassigned id for one account at one issuer.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idp_identity"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    # The SRE role came from the provider's groups (and goes with them); an SRE made by hand keeps it.
    sre_from_idp = models.BooleanField(default=False)
    # The groups claim at the last sign-in, so that SREs can see what a mapping has to match.
    groups = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="idp_identity_unique_sub")]
        verbose_name = "identity-provider account"

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class GroupMapping(models.Model):
    """An identity-provider group, and what its members are in Shirube: a team's member or lead, or SRE."""

    class Role(models.TextChoices):
        MEMBER = "member", "Team member"
        LEAD = "lead", "Team lead"
        SRE = "sre", "SRE"

    idp_group = models.CharField(
        "identity-provider group",
        max_length=300,
        help_text="Exactly as the provider sends it in the groups claim: a name, a full path "
        "(/eng/payments) or an id (Entra ID sends object ids).",
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="group_mappings",
        help_text="Required for a team role; empty for SRE.",
    )  # fmt: skip

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["idp_group", "role", "team"], name="group_mapping_unique"),
            models.CheckConstraint(
                condition=(models.Q(role="sre") & models.Q(team__isnull=True))
                | (~models.Q(role="sre") & models.Q(team__isnull=False)),
                name="group_mapping_team_iff_team_role",
            ),
        ]
        ordering = ["idp_group", "role"]
        verbose_name = "identity-provider group mapping"

    def __str__(self) -> str:
        where = f" of {self.team.slug}" if self.team_id else ""
        return f"{self.idp_group} → {self.get_role_display()}{where}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.role == self.Role.SRE and self.team_id:
            raise ValidationError({"team": "The SRE role is not a team's: leave the team empty."})
        if self.role != self.Role.SRE and not self.team_id:
            raise ValidationError({"team": "Choose the team this group's members join."})


class Throttle(models.Model):
    """One limiter's count for one key (apps.accounts.limits): shared by every process through the database.

    The key is stored as a hash: a login limiter's keys are what people typed as a user
    name, which is sometimes a password.
    """

    scope = models.CharField(max_length=50)
    key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    hits = models.PositiveIntegerField(default=0)
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="throttle_unique_scope_key")]
        indexes = [models.Index(fields=["window_start"], name="throttle_window_start")]

    def __str__(self) -> str:
        return f"{self.scope}: {self.hits} hits"


class FirstSignIn(models.Model):
    """When a person first signed in: Django keeps only the last login, and onboarding is timed
    from the first (issue 20). Set once, on the first user_logged_in; older accounts were
    backfilled from date_joined (migration)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="first_sign_in"
    )
    at = models.DateTimeField()
    backfilled = models.BooleanField(default=False)  # estimated by the migration, not seen

    class Meta:
        verbose_name = "first sign-in"

    def __str__(self) -> str:
        return f"{self.user_id} first signed in {self.at:%Y-%m-%d %H:%M}"


# The languages a reader can choose (issue 21); English is the source of every lesson.
LANGUAGES = {"en": "English", "ja": "日本語"}


class LanguagePreference(models.Model):
    """The language a user chose to read in; without one, the browser's Accept-Language decides."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="language_preference"
    )
    language = models.CharField(max_length=8, choices=list(LANGUAGES.items()))
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} reads {self.language}"
