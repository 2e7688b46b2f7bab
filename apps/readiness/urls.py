from django.urls import path

from apps.readiness import views

app_name = "readiness"

urlpatterns = [
    path("teams/<slug:team_slug>/readiness/", views.team_readiness, name="team"),
    path(
        "teams/<slug:team_slug>/readiness/findings/<int:finding_id>/waive/", views.finding_waive, name="waive"
    ),
    path("readiness/", views.overview, name="overview"),
]
