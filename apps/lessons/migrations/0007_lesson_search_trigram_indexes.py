"""pg_trgm GIN indexes for lesson search (apps/lessons/search.py), on PostgreSQL only.

Search matches `UPPER(col::text) LIKE UPPER('%term%')` (Django's icontains), so the indexes
are on those expressions. They serve terms of three characters or more; a trigram index is
lossy and every row it returns is re-checked, so results are the same with or without it.
SQLite has no pg_trgm and searches without an index.
"""

from django.db import migrations

# The English body is searched as plain text (body_text, migration 0004); a translation's as written.
TABLES = {
    "lessons_lesson": ("lesson", ("title", "summary", "body_text")),
    "lessons_lessontranslation": ("lessontr", ("title", "summary", "body")),
}


def _statements(create: bool) -> list[str]:
    statements = []
    for table, (short, fields) in TABLES.items():
        for field in fields:
            name = f"{short}_{field}_upper_trgm"
            if create:
                expression = f'(UPPER("{field}"::text)) gin_trgm_ops'
                statements.append(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})")
            else:
                statements.append(f"DROP INDEX IF EXISTS {name}")
    return statements


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for statement in _statements(create=True):
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in _statements(create=False):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("lessons", "0006_translations_and_pages")]

    operations = [migrations.RunPython(forwards, backwards)]
