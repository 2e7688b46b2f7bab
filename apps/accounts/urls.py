from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("login/break-glass/", views.login, {"break_glass": True}, name="break_glass"),
    path("logout/", views.logout, name="logout"),
    path("language/", views.language, name="language"),
    path("oidc/start/", views.OIDCStart.as_view(), name="oidc_start"),
    path("oidc/callback/", views.OIDCCallback.as_view(), name="oidc_callback"),
]
