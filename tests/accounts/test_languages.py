import pytest
from django.test import RequestFactory

from apps.accounts.languages import language_chosen, language_from_header, reader_language
from apps.accounts.models import LanguagePreference
from tests.factories import UserFactory


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ja", "ja"),
        ("ja-JP,ja;q=0.9,en-US;q=0.8", "ja"),
        ("en-GB,en;q=0.9,ja;q=0.8", "en"),
        ("fr-FR, ja;q=0.2", "ja"),  # the first one we have, by q
        ("zh-CN, ko", ""),
        ("", ""),
        ("*", ""),
    ],
)
def test_the_browser_language_is_the_first_supported_one(header, expected):
    assert language_from_header(header) == expected


@pytest.mark.django_db
def test_the_account_choice_comes_before_the_browser():
    user = UserFactory()
    request = RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE="ja")
    request.user = user
    assert language_chosen(user=user) == "" and reader_language(request) == "ja"
    LanguagePreference.objects.create(user=user, language="en")
    assert reader_language(request) == "en"
    request = RequestFactory().get("/")
    request.user = UserFactory()
    assert reader_language(request) == "en"  # nothing chosen, nothing sent: English


@pytest.mark.django_db
def test_the_choice_is_read_once_per_session_and_never_for_another_user(client):
    from django.urls import reverse

    alice, bob = UserFactory(), UserFactory()
    LanguagePreference.objects.create(user=alice, language="ja")
    client.force_login(alice)
    assert '<html lang="ja">' in client.get(reverse("lessons:progress")).content.decode()
    LanguagePreference.objects.filter(user=alice).update(language="en")
    # Kept in this session (the header switch updates it there too); read again at the next sign-in.
    assert '<html lang="ja">' in client.get(reverse("lessons:progress")).content.decode()
    client.force_login(bob)
    assert '<html lang="en">' in client.get(reverse("lessons:progress")).content.decode()
    client.force_login(alice)
    assert '<html lang="en">' in client.get(reverse("lessons:progress")).content.decode()
