"""The interface's message catalogue, without GNU gettext (not installed on a fresh machine).

    .venv/bin/python scripts/messages.py extract   # add the marked strings missing from each .po
    .venv/bin/python scripts/messages.py compile   # write each .mo from its .po (babel)
    .venv/bin/python scripts/messages.py check     # what is missing, untranslated, fuzzy or not compiled

Strings are read from the templates in SCOPE with Django's own template lexer, so a msgid is
exactly what `{% translate %}` and `{% blocktranslate %}` look up. The compiled django.mo is
committed, so `make run`, the image and CI need nothing else; the tests fail when it lags its .po.
SCOPE grows as more of the interface is marked (docs/decisions.md, issue 21).
"""

from __future__ import annotations

import gettext
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
LANGUAGES = ("ja",)
# The templates whose strings are marked and must be translated.
SCOPE = [
    "templates/base.html",
    "apps/lessons/templates/lessons/index.html",
    "apps/lessons/templates/lessons/phase.html",
    "apps/lessons/templates/lessons/lesson.html",
    "apps/lessons/templates/lessons/page.html",
    "apps/lessons/templates/lessons/progress.html",
    "apps/lessons/templates/lessons/search.html",
]
# Python modules whose gettext(...) / _(...) strings must be translated.
PYTHON_SCOPE = [
    "apps/lessons/views.py",
    "apps/lessons/services.py",
    "apps/lessons/forms.py",
    "apps/core/timefmt.py",  # durations and "ago", on every page
]
KEYWORDS = {"_": None, "gettext": None, "gettext_lazy": None, "pgettext": ((1, "c"), 2), "ngettext": (1, 2)}


@dataclass(frozen=True)
class Message:
    msgid: str
    plural: str = ""
    context: str = ""
    where: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.context, self.msgid


def _unquote(bit: str) -> str:
    if len(bit) >= 2 and bit[0] == bit[-1] and bit[0] in "\"'":
        return bit[1:-1]
    raise ValueError(f"not a quoted string: {bit}")


def template_messages(path: Path) -> list[Message]:
    """The messages a template marks, as Django's i18n tags build their msgids."""
    from django.template.base import Lexer, TokenType
    from django.utils.text import smart_split
    from django.utils.translation import trim_whitespace

    rel = str(path.relative_to(ROOT))
    found: list[Message] = []
    tokens = Lexer(path.read_text(encoding="utf-8")).tokenize()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.token_type != TokenType.BLOCK:
            continue
        bits = list(smart_split(token.contents))
        where = f"{rel}:{token.lineno}"
        if bits[0] in ("translate", "trans"):
            context = _unquote(bits[bits.index("context") + 1]) if "context" in bits else ""
            found.append(Message(_unquote(bits[1]), context=context, where=where))
        elif bits[0] in ("blocktranslate", "blocktrans"):
            context = _unquote(bits[bits.index("context") + 1]) if "context" in bits else ""
            parts: dict[str, list[str]] = {"singular": [], "plural": []}
            current = "singular"
            while True:
                inner = tokens[index]
                index += 1
                if inner.token_type == TokenType.BLOCK:
                    if inner.contents.strip() == "plural":
                        current = "plural"
                        continue
                    break  # endblocktranslate
                if inner.token_type == TokenType.TEXT:
                    parts[current].append(inner.contents.replace("%", "%%"))
                elif inner.token_type == TokenType.VAR:
                    parts[current].append(f"%({inner.contents})s")
            texts = {name: "".join(pieces) for name, pieces in parts.items()}
            if "trimmed" in bits:
                texts = {name: trim_whitespace(text) for name, text in texts.items()}
            found.append(Message(texts["singular"], plural=texts["plural"], context=context, where=where))
    return found


def python_messages(path: Path) -> list[Message]:
    """The strings a Python module passes to gettext and friends (babel's Python extractor)."""
    from babel.messages.extract import extract_from_file

    rel = _shown(path)
    found = []
    for line, message, _comments, context in extract_from_file("python", str(path), keywords=KEYWORDS):
        msgid, plural = message if isinstance(message, tuple) else (message, "")  # ngettext: a pair
        found.append(Message(msgid, plural=plural, context=context or "", where=f"{rel}:{line}"))
    return found


def scope_messages() -> dict[tuple[str, str], Message]:
    messages: dict[tuple[str, str], Message] = {}
    for rel in SCOPE:
        for message in template_messages(ROOT / rel):
            messages.setdefault(message.key, message)
    for rel in PYTHON_SCOPE:
        for message in python_messages(ROOT / rel):
            messages.setdefault(message.key, message)
    return messages


def _po(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"  # LOCALE read at call time: tests move it


def read_catalogue(language: str):
    from babel.messages.pofile import read_po

    with _po(language).open("rb") as handle:
        return read_po(handle, locale=language)


def compiled(language: str) -> dict:
    """The .mo as gettext reads it (what Django will serve)."""
    with (_po(language).with_suffix(".mo")).open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)


def compile_catalogue(language: str) -> Path:
    from babel.messages.mofile import write_mo

    catalogue = read_catalogue(language)
    target = _po(language).with_suffix(".mo")
    with target.open("wb") as handle:
        write_mo(handle, catalogue, use_fuzzy=False)
    return target


def _fresh(language: str) -> dict:
    import io

    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(language), use_fuzzy=False)
    buffer.seek(0)
    return dict(gettext.GNUTranslations(buffer)._catalog)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def problems(language: str) -> list[str]:
    """Every reason the catalogue is not complete: missing, untranslated, fuzzy, not compiled."""
    catalogue = read_catalogue(language)
    found = []
    for message in scope_messages().values():
        entry = catalogue.get(message.msgid, context=message.context or None)
        if entry is None:
            found.append(f"{message.where}: not in the catalogue: {message.msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings):
            found.append(f"{message.where}: not translated: {message.msgid!r}")
        if entry.fuzzy:
            found.append(f"{message.where}: fuzzy: {message.msgid!r}")
        if bool(message.plural) != isinstance(entry.id, tuple):
            found.append(f"{message.where}: plural forms differ from the catalogue's: {message.msgid!r}")
    for entry in catalogue:
        if entry.id and entry.fuzzy:
            found.append(f"{_shown(_po(language))}: fuzzy: {entry.id!r}")
    if not _po(language).with_suffix(".mo").is_file() or compiled(language) != _fresh(language):
        found.append(
            f"{_shown(_po(language))}: the .mo is not compiled from it: run scripts/messages.py compile"
        )
    return found


def extract(language: str) -> int:
    """Add the scope's messages missing from the .po, untranslated; returns how many."""
    from babel.messages.pofile import write_po

    catalogue = read_catalogue(language)
    added = 0
    for message in scope_messages().values():
        if catalogue.get(message.msgid, context=message.context or None) is None:
            msgid = (message.msgid, message.plural) if message.plural else message.msgid
            catalogue.add(msgid, "" if not message.plural else ("",), context=message.context or None)
            added += 1
    with _po(language).open("wb") as handle:
        write_po(handle, catalogue, width=0, omit_header=False, sort_output=False)
    return added


def main(argv: list[str]) -> int:
    import django

    sys.path.insert(0, str(ROOT))
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DEBUG", "true")
    django.setup()
    command = argv[0] if argv else "check"
    failed = False
    for language in LANGUAGES:
        if command == "extract":
            print(f"{language}: {extract(language)} message(s) added")
        elif command == "compile":
            print(f"{language}: wrote {_shown(compile_catalogue(language))}")
        elif command == "check":
            for problem in problems(language):
                print(problem)
                failed = True
        else:
            print(__doc__)
            return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
