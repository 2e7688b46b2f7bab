from django.core.management.base import BaseCommand, CommandError

from apps.accounts.signin import sign_in_unlock


class Command(BaseCommand):
    help = "Lift a password sign-in lock: a user name's, an address's, or both."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="")
        parser.add_argument("--address", default="")

    def handle(self, *args, username: str, address: str, **options):
        if not username and not address:
            raise CommandError("Name a --username, an --address, or both.")
        sign_in_unlock(username=username, address=address)
        self.stdout.write("Unlocked.")
