import pytest

from kubesim.patch import PatchError, json_patch, merge_patch, strategic_merge_patch


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists():
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": True}

    result = merge_patch(target, {"a": {"b": 9}, "list": [3], "gone": None, "new": "x"})

    assert result == {"a": {"b": 9, "c": 2}, "list": [3], "new": "x"}
    assert target["a"]["b"] == 1  # the input is left alone


def test_json_patch_operations():
    doc = {"spec": {"replicas": 1, "list": ["a"]}}

    result = json_patch(
        doc,
        [
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/spec/list/-", "value": "b"},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/copy"},
            {"op": "move", "from": "/spec/copy", "path": "/moved"},
            {"op": "remove", "path": "/spec/list/0"},
        ],
    )

    assert result == {"spec": {"replicas": 2, "list": ["b"]}, "moved": 2}
    assert doc == {"spec": {"replicas": 1, "list": ["a"]}}


@pytest.mark.parametrize(
    "op",
    [
        {"op": "test", "path": "/a", "value": 2},
        {"op": "replace", "path": "/missing", "value": 1},
        {"op": "remove", "path": "/missing"},
        {"op": "frobnicate", "path": "/a"},
    ],
)
def test_json_patch_failures(op):
    with pytest.raises(PatchError):
        json_patch({"a": 1}, [op])


def test_strategic_merge_patch_merges_containers_and_env_by_name():
    pod_spec = {
        "containers": [
            {
                "name": "app",
                "image": "app:1",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            },
            {"name": "sidecar", "image": "proxy:1"},
        ]
    }

    result = strategic_merge_patch(
        pod_spec,
        {
            "containers": [
                {
                    "name": "app",
                    "image": "app:2",
                    "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                },
                {"name": "sidecar", "$patch": "delete"},
            ]
        },
    )

    assert result == {
        "containers": [
            {
                "name": "app",
                "image": "app:2",
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "B", "value": "3"},
                    {"name": "C", "value": "4"},
                ],
            }
        ]
    }


def test_strategic_merge_patch_replaces_unkeyed_lists_and_honours_replace():
    target = {"args": ["a", "b"], "labels": {"x": "1", "y": "2"}}

    result = strategic_merge_patch(target, {"args": ["c"], "labels": {"$patch": "replace", "z": "3"}})

    assert result == {"args": ["c"], "labels": {"z": "3"}}
