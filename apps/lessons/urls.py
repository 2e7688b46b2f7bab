from django.urls import path

from apps.lessons import views

app_name = "lessons"

urlpatterns = [
    path("", views.index, name="index"),
    path("glossary/", views.glossary, name="glossary"),
    path("progress/", views.my_progress, name="progress"),
    path("search/", views.search, name="search"),
    path("teams/", views.team_progress, name="teams"),
    path("<slug:phase_slug>/", views.phase_detail, name="phase"),
    path("<slug:phase_slug>/<slug:lesson_slug>/", views.lesson_detail, name="lesson"),
    path("<slug:phase_slug>/<slug:lesson_slug>/quiz/", views.quiz_submit, name="quiz"),
    path("<slug:phase_slug>/<slug:lesson_slug>/done/", views.mark_done, name="done"),
    path("<slug:phase_slug>/<slug:lesson_slug>/stuck/", views.stuck, name="stuck"),
    path(
        "<slug:phase_slug>/<slug:lesson_slug>/checklist/<int:item_id>/",
        views.checklist_tick,
        name="checklist",
    ),
]
