from kubesim.patch import merge_patch, strategic_merge_patch


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists():
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": True}

    result = merge_patch(target, {"a": {"b": 9}, "list": [3], "gone": None, "new": "x"})

    assert result == {"a": {"b": 9, "c": 2}, "list": [3], "new": "x"}
    assert target["a"]["b"] == 1  # the input is left alone


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
