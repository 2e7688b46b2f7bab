"""A JSONField for synced snapshots, fast to bulk-write on PostgreSQL."""

from __future__ import annotations

import orjson
from django.db import models


def _dumps(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


class SnapshotJSONField(models.JSONField):
    """JSON serialised with orjson, and inserted as plain VALUES rather than UNNEST arrays.

    Django 5.2 bulk-inserts through UNNEST on PostgreSQL, which sends each JSON
    document inside a text array; psycopg escapes those strings character by
    character, which cost most of a 10,000-pod first sync. Defining
    get_placeholder opts this field out of UNNEST.
    """

    def get_placeholder(self, value, compiler, connection) -> str:
        return "%s"

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "postgresql" or value is None or hasattr(value, "as_sql"):
            return super().get_db_prep_value(value, connection, prepared)
        from psycopg.types.json import Jsonb

        if not prepared:
            value = self.get_prep_value(value)
        return Jsonb(value, dumps=_dumps)
