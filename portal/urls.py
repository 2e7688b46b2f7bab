from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from apps.accounts.views import logout
from portal import views

handler400 = "portal.views.bad_request"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/", include("apps.accounts.urls")),
    path("learn/", include("apps.lessons.urls")),
    path("teams/", include("apps.clusters.urls")),
    path("", include("apps.readiness.urls")),
    path("", include("apps.environments.urls")),
    path("", include("apps.notifications.urls")),
    path("slack/", include("apps.chatops.urls")),
    # The admin's own password form would get round the sign-in rules (password sign-in off,
    # the throttle): everyone signs in on one page.
    path(
        "admin/login/",
        login_not_required(RedirectView.as_view(pattern_name="accounts:login", query_string=True)),
    ),
    # The admin's "Log out" ends the provider's session too, like the site's.
    path("admin/logout/", logout),
    path("admin/", admin.site.urls),
]
