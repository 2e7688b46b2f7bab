from django.urls import path

from apps.chatops import views

app_name = "chatops"

urlpatterns = [
    path("commands/", views.slash_command, name="commands"),
    path("interactivity/", views.interactivity, name="interactivity"),
]
