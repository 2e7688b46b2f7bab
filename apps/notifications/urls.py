from django.urls import path

from apps.notifications import views

app_name = "notifications"

urlpatterns = [
    path("settings/notifications/", views.notification_settings, name="settings"),
    path("settings/notifications/slack/link/", views.slack_link_start, name="slack_link"),
    path("settings/notifications/slack/unlink/", views.slack_unlink, name="slack_unlink"),
    path("notifications/", views.delivery_log, name="log"),
    path("notifications/<int:delivery_id>/retry/", views.delivery_retry, name="retry"),
]
