from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.lessons.content import ContentError, content_files_read, translation_hash_write


class Command(BaseCommand):
    help = (
        "Mark translations as made from their English files as they are now (writes source_sha256). "
        "Run it on a translation after bringing it up to date with its English file."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="translation files (*.ja.md) to mark as up to date")
        parser.add_argument(
            "--list",
            dest="list_all",
            action="store_true",
            help="list each translation: current, stale or missing",
        )
        parser.add_argument("--content", help="content folder for --list (default: content/)")

    def handle(self, *args, files=(), list_all=False, content=None, **options):
        if list_all:
            return self._list(Path(content) if content else settings.SHIRUBE_CONTENT_DIR)
        if not files:
            raise CommandError("name the translation file(s) you brought up to date, or use --list")
        for name in files:
            try:
                changed = translation_hash_write(path=Path(name))
            except (ValueError, OSError) as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{name}: {'marked current' if changed else 'already current'}")

    def _list(self, root: Path) -> None:
        from apps.lessons.models import TRANSLATION_LANGUAGES

        try:
            tree = content_files_read(root)
        except ContentError as exc:
            raise CommandError("\n".join(exc.problems)) from None
        for spec in [*tree.pages, *tree.phases, *tree.lessons]:
            for language in TRANSLATION_LANGUAGES:
                translation = spec.translations.get(language)
                state = "missing" if translation is None else "stale" if translation.stale else "current"
                self.stdout.write(f"{state:8} {language} {spec.path}")
