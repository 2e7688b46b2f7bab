from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo seeding for `make run` (refused unless DEBUG and SQLite); the one app that imports kubesim."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo data"
