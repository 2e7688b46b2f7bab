from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from apps.demo.services import demo_scores_backfill, demo_seed


class Command(BaseCommand):
    help = "Create the demo teams and users (SHIRUBE_DEMO and SQLite only)."

    def handle(self, *args, **options):
        try:
            users = demo_seed(password=settings.DEMO_PASSWORD)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        demo_scores_backfill()
        self.stdout.write(f"Demo users (password: {settings.DEMO_PASSWORD}):")
        for username, description in users:
            self.stdout.write(f"  {username:6} {description}")
