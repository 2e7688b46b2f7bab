from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo seeding for `make run` (SHIRUBE_DEMO and SQLite only); the one app that imports kubesim."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo data"
