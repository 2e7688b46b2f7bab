"""Redact credentials in rows synced before redaction existed, and have the next sync reduce them again.

Two steps, both needed: the rows are redacted here and now (a cluster that is
unreachable or disabled may never sync again), with the redaction as it is when
this runs; and every synced row forgets its resourceVersion, so the next sync
reduces each object afresh from the cluster, which redacts commands before they
are cut to length and keeps Datadog annotations exactly as the reducers do.
"""

from django.db import migrations

# The functions, not a copy: redaction that improves later should apply here too. They are
# plain functions of text, with no models behind them.
from apps.clusters.redact import DATADOG_PREFIX, datadog_annotation, redact

TABLES = {
    "Namespace": ["annotations"],
    "Workload": ["annotations", "template", "details"],
    "Pod": ["annotations", "spec", "message"],
    "ServiceAccount": ["annotations"],
    "PodDisruptionBudget": ["annotations"],
    "WarningEvent": ["annotations", "message"],
    "FluxObject": ["annotations", "details", "ready_message"],
}


def _walk(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_walk(item) for item in value]
    if isinstance(value, dict):
        if "annotations" in value and isinstance(value["annotations"], dict):  # a pod template's metadata
            value = {**value, "annotations": _annotations(value["annotations"])}
        return {key: _walk(item) for key, item in value.items()}
    return value


def _annotations(annotations):
    kept = {}
    for key, value in annotations.items():
        if key.startswith(DATADOG_PREFIX) and isinstance(value, str):
            value = datadog_annotation(key, value)
            if value is None:
                continue
        kept[key] = value
    return kept


def redact_rows(apps, schema_editor):
    for model_name, fields in TABLES.items():
        model = apps.get_model("clusters", model_name)
        batch = []
        for row in model.objects.only("pk", "resource_version", *fields).iterator(chunk_size=1000):
            for name in fields:
                value = getattr(row, name)
                setattr(row, name, _annotations(value) if name == "annotations" else value)
                setattr(row, name, _walk(getattr(row, name)))
            row.resource_version = ""
            batch.append(row)
            if len(batch) >= 1000:
                model.objects.bulk_update(batch, [*fields, "resource_version"])
                batch = []
        if batch:
            model.objects.bulk_update(batch, [*fields, "resource_version"])


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0004_sync_failures_and_skipped"),
    ]

    operations = [
        migrations.RunPython(redact_rows, migrations.RunPython.noop),
    ]
