from django.contrib import admin
from django.urls import include, path

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
    path("admin/", admin.site.urls),
]
