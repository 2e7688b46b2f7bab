"""Logging filters the settings' LOGGING uses."""

from __future__ import annotations

import logging


class ClientErrorsOneLine(logging.Filter):
    """A 4xx that django.request logs is one line: the client's mistake or a refusal, not a bug.

    Django attaches the exception (PermissionDenied, Http404...) to those records,
    so every 403 printed a traceback that pointed at nothing wrong. 5xx keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
