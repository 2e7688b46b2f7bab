"""Changes to who may do what (gates and configuration), told to the audit log.

Every model whose rows widen or narrow who may do what (memberships and leads, SREs,
clusters, namespace assignments, environments and their gates, waivers) is
registered here with the fields that matter, the team a change concerns and how to
name its target. The admin (ConfigAuditAdmin, with its inlines) and the services
that change those rows outside the admin report each change through
`config_change_record`; apps.audit records it. A signal carries it because the apps
that own some of these models sit below the audit app (CONVENTIONS.md, floors).
Values are recorded as text (a related row by its name), never a password or a
secret: only the registered fields are read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin
from django.db import models
from django.dispatch import Signal

# Sent with: by (a user or None for the system), instance, verb ("created", "changed",
# "deleted"), changes ({field: [before, after]} or {field: {"added": [...], "removed": [...]}}),
# summary (one line per field), team (the team it concerns, or None) and target (its name).
config_changed = Signal()


@dataclass(frozen=True)
class Audited:
    fields: tuple[str, ...]
    team: Callable[[models.Model], object]
    target: Callable[[models.Model], str]


_registry: dict[type[models.Model], Audited] = {}


def config_audit_register(
    model: type[models.Model],
    *,
    fields: list[str] | tuple[str, ...],
    team: Callable[[models.Model], object] = lambda obj: getattr(obj, "team", None),
    target: Callable[[models.Model], str] = str,
) -> None:
    """Declare that changes to `model`'s `fields` are audit events."""
    _registry[model] = Audited(tuple(fields), team, target)


def config_audited(model: type[models.Model]) -> Audited | None:
    return _registry.get(model)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def config_snapshot(obj: models.Model | None) -> dict[str, object]:
    """The registered fields' values as text (many-to-many fields as sorted lists); {} for none."""
    audited = config_audited(type(obj)) if obj is not None else None
    if audited is None or obj.pk is None:
        return {}
    snapshot: dict[str, object] = {}
    for name in audited.fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            # select_related(): a related row's name can need its own foreign keys (a
            # Permission's is "<content type> | <name>"): one query, not one per row.
            related = getattr(obj, name).all().select_related()
            snapshot[name] = sorted(_text(row) for row in related)
        else:
            snapshot[name] = _text(getattr(obj, name))
    return snapshot


def config_snapshot_stored(obj: models.Model) -> dict[str, object]:
    """The snapshot of `obj` as the database holds it now (before a form's changes are saved)."""
    if obj.pk is None:
        return {}
    stored = type(obj)._default_manager.filter(pk=obj.pk).first()
    return config_snapshot(stored)


def _changes(before: dict[str, object], after: dict[str, object]) -> dict[str, object]:
    changes: dict[str, object] = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if isinstance(old, list) or isinstance(new, list):
            old, new = set(old or []), set(new or [])
            changes[name] = {"added": sorted(new - old), "removed": sorted(old - new)}
        else:
            changes[name] = [old if old is not None else "", new if new is not None else ""]
    return changes


def _summary(changes: dict[str, object]) -> str:
    lines = []
    for name, change in changes.items():
        label = name.replace("_", " ")
        if isinstance(change, dict):
            parts = [f"+{v}" for v in change["added"]] + [f"−{v}" for v in change["removed"]]
            lines.append(f"{label}: {', '.join(parts)}")
        else:
            old, new = change
            lines.append(f"{label}: {old or '(empty)'} → {new or '(empty)'}")
    return "; ".join(lines)


def config_change_record(
    *, by, instance: models.Model, verb: str, before: dict[str, object], team: object = None
) -> None:
    """Report one change (after it is saved, or just before a delete); a change of nothing is not one."""
    audited = config_audited(type(instance))
    if audited is None:
        return
    after = {} if verb == "deleted" else config_snapshot(instance)
    changes = _changes(before, after)
    if verb == "changed" and not changes:
        return
    team = team if team is not None else audited.team(instance)
    if verb == "deleted" and team is instance:
        team = None  # a deleted team: the event names it in its target
    config_changed.send(
        sender=type(instance),
        by=by,
        instance=instance,
        verb=verb,
        changes=changes,
        summary=_summary(changes),
        team=team,
        target=audited.target(instance),
    )


class ConfigAuditAdmin(admin.ModelAdmin):
    """A ModelAdmin whose adds, changes and deletes (and those of its inlines) are audit events."""

    def save_model(self, request, obj, form, change):
        # The form has already put the new values on obj; the database still has the old ones.
        before = config_snapshot_stored(obj) if change else {}
        super().save_model(request, obj, form, change)
        request.__dict__.setdefault("_config_audit_before", {})[id(obj)] = (before, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # many-to-many fields and inlines
        obj = form.instance
        before, changed = request.__dict__.get("_config_audit_before", {}).pop(id(obj), ({}, change))
        config_change_record(
            by=request.user, instance=obj, verb="changed" if changed else "created", before=before
        )

    def save_formset(self, request, form, formset, change):
        forms = formset.initial_forms
        stored = {id(f.instance): config_snapshot_stored(f.instance) for f in forms}
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            config_change_record(by=request.user, instance=obj, verb="created", before={})
        for obj, _ in formset.changed_objects:
            config_change_record(
                by=request.user, instance=obj, verb="changed", before=stored.get(id(obj), {})
            )
        for obj in formset.deleted_objects:  # gone from the database, but the instance still names it
            config_change_record(
                by=request.user, instance=obj, verb="deleted", before=stored.get(id(obj), {})
            )

    def delete_model(self, request, obj):
        config_change_record(by=request.user, instance=obj, verb="deleted", before=config_snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            config_change_record(by=request.user, instance=obj, verb="deleted", before=config_snapshot(obj))
        super().delete_queryset(request, queryset)
