from urllib.parse import quote, unquote

from django.urls import path, register_converter

from apps.clusters import views

app_name = "clusters"


class SyncedNameConverter:
    """A namespace, kind or name from a cluster, as exactly one path segment whatever it holds.

    The sync skips objects whose own name is not a valid path segment, but names
    it keeps as values (an owner reference's, say) can hold "/", "%", or be "..",
    and rows from before that check can too; a plain <str:> then fails to reverse
    (a 500 on the page that links it) or a browser folds "..". So to_url
    percent-encodes everything but unreserved characters (Django encodes the "%"
    once more, which the server decodes back to this form) and to_python decodes.
    Ordinary Kubernetes names come out unchanged.
    """

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        text = quote(str(value), safe="")
        return text.replace(".", "%2E") if text in (".", "..") else text


register_converter(SyncedNameConverter, "synced")

urlpatterns = [
    path("", views.team_list, name="teams"),
    path("<slug:team_slug>/", views.team_detail, name="team"),
    path("<slug:team_slug>/live/", views.team_live, name="live"),
    path("<slug:team_slug>/flux/", views.flux_detail, name="flux"),
    path(
        "<slug:team_slug>/flux/<slug:cluster>/<synced:namespace>/<synced:kind>/<synced:name>/<str:action>/",
        views.flux_action,
        name="flux-action",
    ),
    path(
        "<slug:team_slug>/workloads/<slug:cluster>/<synced:namespace>/<synced:kind>/<synced:name>/",
        views.workload_detail,
        name="workload",
    ),
    path(
        "<slug:team_slug>/pods/<slug:cluster>/<synced:namespace>/<synced:pod>/",
        views.pod_detail,
        name="pod",
    ),
]
