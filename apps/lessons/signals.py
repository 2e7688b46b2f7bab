"""Questions the lessons app asks the apps above it (CONVENTIONS.md, the floors)."""

from django.dispatch import Signal

# Sent with `phase_ids`; each receiver answers with the set of those phases that something
# requires now (an environment's learning gate). A lesson published into one of them starts to
# count for that gate only after a grace period (Lesson.gates_from).
phases_required = Signal()
