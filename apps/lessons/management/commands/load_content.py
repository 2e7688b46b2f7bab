from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.lessons.content import ContentError
from apps.lessons.content_import import load_content


class Command(BaseCommand):
    help = "Import phases and lessons from content/ (Markdown with YAML front matter)."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="folder to import (default: content/)")
        parser.add_argument("--check", action="store_true", help="validate and report; change nothing")
        parser.add_argument("--prune", action="store_true", help="archive lessons whose file is gone")
        parser.add_argument(
            "--force",
            action="store_true",
            help="overwrite lessons changed in the admin since import",
        )

    def handle(self, *args, path=None, check=False, prune=False, force=False, **options):
        root = Path(path) if path else settings.SHIRUBE_CONTENT_DIR
        try:
            report = load_content(root, check=check, prune=prune, force=force)
        except ContentError as exc:
            for problem in exc.problems:
                self.stderr.write(f"error: {problem}")
            raise CommandError(f"{len(exc.problems)} problem(s) in {root}; nothing was imported.") from None
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        for conflict in report.conflicts:
            self.stderr.write(f"conflict: {conflict}")
        verb = "would be " if check else ""
        for label, items in [
            ("phases created", report.phases_created),
            ("phases updated", report.phases_updated),
            ("lessons created", report.created),
            ("lessons updated", report.updated),
            ("lessons archived", report.archived),
            ("translations and pages written", report.translations_changed),
        ]:
            if items:
                self.stdout.write(f"{verb}{label}: {', '.join(items)}")
        self.stdout.write(
            f"{'check: ' if check else ''}{len(report.created)} created, "
            f"{len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.archived)} archived, "
            f"{len(report.conflicts)} conflict(s)"
        )
