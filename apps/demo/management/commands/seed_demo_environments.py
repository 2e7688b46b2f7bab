from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.core.management.base import BaseCommand, CommandError

from apps.demo.services import demo_environments_seed, demo_repo_path


class Command(BaseCommand):
    help = "Create the demo environments and their local GitOps repository (SHIRUBE_DEMO and SQLite only)."

    def add_arguments(self, parser):
        parser.add_argument("--cluster", default="demo", help="the demo cluster's name (default: demo)")

    def handle(self, *args, cluster, **options):
        try:
            environments = demo_environments_seed(cluster_name=cluster)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        except ObjectDoesNotExist as exc:
            raise CommandError(f"{exc} Run seed_demo and add_cluster first.") from None
        self.stdout.write(f"Demo GitOps repository: {demo_repo_path()}")
        for environment in environments:
            state = (
                f"git tag {environment.git_tag}" if environment.git_tag else f"git: {environment.git_error}"
            )
            self.stdout.write(f"  {environment} ({state})")
