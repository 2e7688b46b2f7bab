import sys

from django.core.management.base import BaseCommand, CommandError

from apps.clusters import sync
from apps.clusters.models import Cluster


class Command(BaseCommand):
    help = (
        "Sync one cluster in the foreground. Exit 0: ran (some kinds may have failed); 1: the run failed "
        "(unreachable, or an internal error); 2: another sync holds the lock."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        cluster = Cluster.objects.filter(name=name).first()
        if cluster is None:
            raise CommandError(f"no cluster named {name!r}")
        try:
            result = sync.cluster_sync(cluster=cluster, worker="sync_cluster command")
        except sync.LockHeld:
            self.stderr.write(f"skipped: another sync of {name} holds the lock")
            sys.exit(2)
        for key, kind in result.kinds.items():
            line = (
                f"{key:22} {kind.status:5} seen {kind.seen:6}  "
                f"+{kind.created} ~{kind.updated} -{kind.deleted}  {kind.ms} ms"
            )
            if kind.skipped:
                line += f"  skipped {kind.skipped} malformed"
            if kind.error:
                line += f"  {kind.error}"
            self.stdout.write(line)
            for what in kind.skipped_objects:
                self.stdout.write(f"{'':22} skipped {what}")
        run = result.run
        if run.status == run.Status.FAILED:
            summary = cluster.last_error or "a kind failed on an internal error (above)"
            self.stderr.write(f"sync failed: {summary}" + (f": {run.error}" if run.error else ""))
        self.stdout.write(f"created {run.created}, updated {run.updated}, deleted {run.deleted}")
        if run.status == run.Status.FAILED:
            sys.exit(1)
