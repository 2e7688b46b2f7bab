import sys

from django.core.management.base import BaseCommand, CommandError

from apps.clusters import sync, watch
from apps.clusters.models import Cluster


class Command(BaseCommand):
    help = (
        "Run one watch session of a cluster in the foreground (list what needs it, then watch). "
        "Exit 0: it ran; 1: it failed (unreachable, or an internal error); 2: another sync holds the lock."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--seconds", type=float, default=None, help="how long (default: SHIRUBE_WATCH_SESSION_SECONDS)"
        )

    def handle(self, *args, name, seconds, **options):
        cluster = Cluster.objects.filter(name=name).first()
        if cluster is None:
            raise CommandError(f"no cluster named {name!r}")
        try:
            result = watch.watch_session(cluster=cluster, seconds=seconds, worker="watch_cluster command")
        except sync.LockHeld:
            self.stderr.write(f"skipped: another sync of {name} holds the lock")
            sys.exit(2)
        run = result.run
        listed = ", ".join(result.listed) or "nothing"
        self.stdout.write(
            f"{result.events} events in {result.writes} writes; listed {listed}; "
            f"created {run.created}, updated {run.updated}, deleted {run.deleted}; ended: {result.ended}"
        )
        for key, kind in result.kinds.items():
            if kind.error:
                self.stdout.write(f"{key:22} {kind.error}")
        if run.status == run.Status.FAILED:
            self.stderr.write(f"watch failed: {cluster.last_error or run.error}")
            sys.exit(1)
