"""One reading of image references and conditions, for the sync, the pages, readiness and deployments."""

from __future__ import annotations

import pytest

from apps.clusters.objects import ImageRef, condition, image_parse, is_ready

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("registry.example.com/team/app:v1.2.3", ("registry.example.com/team/app", "v1.2.3", "")),
        (f"registry.example.com/team/app@{DIGEST}", ("registry.example.com/team/app", "", DIGEST)),
        (f"app:v1@{DIGEST}", ("app", "v1", DIGEST)),
        ("localhost:5000/app", ("localhost:5000/app", "", "")),  # a port is not a tag
        ("localhost:5000/app:1.0", ("localhost:5000/app", "1.0", "")),
        ("nginx", ("nginx", "", "")),
        ("", ("", "", "")),
    ],
)
def test_an_image_reference_is_taken_apart(reference, parsed):
    assert image_parse(reference) == ImageRef(*parsed)


@pytest.mark.parametrize(
    ("reference", "pinned", "shown"),
    [
        ("registry.example.com/team/app:v1.2.3", True, "v1.2.3"),
        (f"registry.example.com/team/app@{DIGEST}", True, "sha256:aaaaaaaaaaaa"),
        ("registry.example.com/team/app:latest", False, "latest"),
        ("registry.example.com/team/app", False, "latest"),
        ("localhost:5000/app", False, "latest"),
        ("localhost:5000/app:1.0", True, "1.0"),
        ("", False, "latest"),
    ],
)
def test_an_image_is_pinned_by_a_digest_or_a_tag_other_than_latest(reference, pinned, shown):
    image = image_parse(reference)
    assert (image.pinned, image.shown) == (pinned, shown)


def test_a_condition_is_found_by_type_and_missing_ones_read_as_empty():
    conditions = [{"type": "Released", "status": "True"}, {"type": "Ready", "status": "False", "reason": "x"}]
    assert condition(conditions) == {"type": "Ready", "status": "False", "reason": "x"}
    assert condition(conditions, "Released")["status"] == "True"
    assert condition(conditions, "Stalled") == {} and condition(None) == {}


@pytest.mark.parametrize(
    ("status", "ready"),
    [
        ({"conditions": [{"type": "Ready", "status": "True"}]}, True),
        ({"conditions": [{"type": "Ready", "status": "False"}]}, False),
        ({"conditions": [{"type": "ContainersReady", "status": "True"}]}, False),
        ({}, False),
        (None, False),
    ],
)
def test_an_object_is_ready_only_when_its_ready_condition_is_true(status, ready):
    assert is_ready({"status": status}) is ready
