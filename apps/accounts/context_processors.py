from apps.accounts.permissions import can_see_team_progress, is_sre


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "user_is_sre": is_sre(user),
        "user_sees_team_progress": lambda: can_see_team_progress(user),
    }
