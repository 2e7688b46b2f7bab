"""The interface language: the reader's choice on their account, then Accept-Language, then English."""

from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from apps.accounts.languages import reader_language


class ReaderLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware (its Content-Language and Vary headers), choosing as lessons do.

    Django's own choice reads a cookie and Accept-Language; Shirube remembers the choice on
    the account instead, so it follows the reader to every browser. No URL prefixes.
    """

    def process_request(self, request):
        language = reader_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
