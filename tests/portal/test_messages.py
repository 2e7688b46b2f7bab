"""The Japanese interface catalogue is complete and compiled; the interface follows the reader's language."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from apps.accounts.models import LanguagePreference
from tests.factories import UserFactory

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "messages.py"


@pytest.fixture(scope="module")
def messages():
    spec = importlib.util.spec_from_file_location("shirube_messages", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_marked_string_is_translated_and_compiled(messages):
    assert len(messages.scope_messages()) > 50
    assert messages.problems("ja") == []


def test_the_check_fails_on_an_untranslated_a_fuzzy_or_an_uncompiled_message(messages, tmp_path, monkeypatch):
    from babel.messages.pofile import read_po, write_po

    shutil.copytree(messages.LOCALE, tmp_path / "locale")
    monkeypatch.setattr(messages, "LOCALE", tmp_path / "locale")
    po = tmp_path / "locale/ja/LC_MESSAGES/django.po"
    with po.open("rb") as handle:
        catalogue = read_po(handle, locale="ja")
    catalogue["Log out"].string = ""
    catalogue["Search"].flags.add("fuzzy")
    with po.open("wb") as handle:
        write_po(handle, catalogue)
    found = "\n".join(messages.problems("ja"))
    assert "not translated: 'Log out'" in found and "fuzzy: 'Search'" in found
    assert "the .mo is not compiled from it" in found
    catalogue["Log out"].string = "ログアウト"
    catalogue["Search"].flags.discard("fuzzy")
    with po.open("wb") as handle:
        write_po(handle, catalogue)
    messages.compile_catalogue("ja")
    assert messages.problems("ja") == []


def test_a_newly_marked_string_is_reported_until_it_is_translated(messages, tmp_path, monkeypatch):
    template = tmp_path / "new.html"
    template.write_text(
        "{% load i18n %}{% blocktranslate trimmed with n=x %}\n  {{ n }} new\n  things{% endblocktranslate %}"
    )
    monkeypatch.setattr(messages, "ROOT", tmp_path)
    monkeypatch.setattr(messages, "LOCALE", SCRIPT.parents[1] / "locale")
    monkeypatch.setattr(messages, "SCOPE", ["new.html"])
    monkeypatch.setattr(messages, "PYTHON_SCOPE", [])
    assert messages.problems("ja") == ["new.html:1: not in the catalogue: '%(n)s new things'"]


@pytest.mark.django_db
def test_the_interface_follows_the_reader_language_and_the_header_switch_remembers_it(client_for):
    user = UserFactory()
    client = client_for(user)
    html = client.get(reverse("lessons:index")).content.decode()
    assert '<html lang="en">' in html and "Learn the platform" in html
    html = client.get(reverse("lessons:index"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert '<html lang="ja">' in html and "プラットフォームを学ぶ" in html and "ログアウト" in html

    response = client.post(
        reverse("accounts:language"), {"language": "ja", "next": "/learn/search/?q=x&lang=en"}
    )
    assert response.status_code == 302 and response["Location"] == "/learn/search/?q=x"
    assert LanguagePreference.objects.get(user=user).language == "ja"
    html = client.get(reverse("lessons:progress"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="ja">' in html and "自分の進捗" in html  # the account's choice wins

    # Elsewhere than this site, or a language Shirube does not have: refused or ignored.
    response = client.post(reverse("accounts:language"), {"language": "en", "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil" not in response["Location"]
    assert client.post(reverse("accounts:language"), {"language": "xx"}).status_code == 400
    assert LanguagePreference.objects.get(user=user).language == "en"
