from django.urls import path

from apps.api import views
from apps.api.api import api

app_name = "api_tokens"

# The API authenticates each request by its bearer token, never the session: the site's
# LoginRequiredMiddleware must not send its clients to the sign-in page.
api_urls = api.urls  # a property that builds new patterns on each read: read it once
for pattern in api_urls[0]:
    pattern.callback.login_required = False

urlpatterns = [
    path("settings/tokens/", views.token_list, name="list"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke, name="revoke"),
    path("teams/<slug:team_slug>/tokens/", views.team_tokens, name="team"),
    path("teams/<slug:team_slug>/webhooks/", views.team_webhooks, name="webhooks"),
]
