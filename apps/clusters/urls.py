from django.urls import path

from apps.clusters import views

app_name = "clusters"

urlpatterns = [
    path("", views.team_list, name="teams"),
    path("<slug:team_slug>/", views.team_detail, name="team"),
    path("<slug:team_slug>/flux/", views.flux_detail, name="flux"),
    path(
        "<slug:team_slug>/flux/<slug:cluster>/<str:namespace>/<str:kind>/<str:name>/<str:action>/",
        views.flux_action,
        name="flux-action",
    ),
    path(
        "<slug:team_slug>/workloads/<slug:cluster>/<str:namespace>/<str:kind>/<str:name>/",
        views.workload_detail,
        name="workload",
    ),
    path(
        "<slug:team_slug>/pods/<slug:cluster>/<str:namespace>/<str:pod>/",
        views.pod_detail,
        name="pod",
    ),
]
