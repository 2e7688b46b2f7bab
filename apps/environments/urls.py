from django.urls import path

from apps.environments import views

app_name = "environments"

urlpatterns = [
    path("teams/<slug:team_slug>/environments/", views.environment_list, name="list"),
    path("teams/<slug:team_slug>/environments/<slug:env_slug>/", views.environment_detail, name="detail"),
    path(
        "teams/<slug:team_slug>/environments/<slug:env_slug>/deployments/",
        views.deployment_create,
        name="deployments",
    ),
    path(
        "teams/<slug:team_slug>/environments/<slug:env_slug>/approvals/",
        views.approval_create,
        name="approvals",
    ),
    path(
        "teams/<slug:team_slug>/environments/<slug:env_slug>/approvals/<int:approval_id>/approve/",
        views.approval_approve,
        name="approve",
    ),
    path(
        "teams/<slug:team_slug>/environments/<slug:env_slug>/approvals/<int:approval_id>/decline/",
        views.approval_decline,
        name="decline",
    ),
]
