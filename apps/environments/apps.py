from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "apps.environments"
    label = "environments"
    verbose_name = "Environments and deployments"

    def ready(self) -> None:
        from apps.environments import receivers  # noqa: F401  (connects the signal receivers)
