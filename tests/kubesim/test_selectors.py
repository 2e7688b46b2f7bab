import pytest

from kubesim.resources import default_registry
from kubesim.selectors import SelectorError, field_matcher, label_matcher

PODS = default_registry().get("", "v1", "pods")


def labelled(**labels):
    return {"metadata": {"labels": labels}}


def test_label_requirements_all_have_to_hold():
    match = label_matcher("app=web, tier in (front, edge), !canary")

    assert match(labelled(app="web", tier="edge"))
    assert not match(labelled(app="web", tier="edge", canary="1"))
    assert not match(labelled(app="web", tier="back"))


def test_inequality_matches_a_missing_label():
    assert label_matcher("app!=web")(labelled())


@pytest.mark.parametrize("selector", ["app in web", "=web", "app=(x)", "a b"])
def test_malformed_label_selectors_are_rejected(selector):
    with pytest.raises(SelectorError):
        label_matcher(selector)


def test_field_selectors_read_nested_fields():
    pod = {
        "metadata": {"name": "p"},
        "status": {"phase": "Running"},
        "spec": {"hostNetwork": False},
    }

    assert field_matcher("status.phase=Running,metadata.name==p", PODS)(pod)
    assert field_matcher("spec.hostNetwork=false", PODS)(pod)
    assert not field_matcher("status.phase!=Running", PODS)(pod)


def test_fields_the_server_does_not_index_are_rejected():
    with pytest.raises(SelectorError, match="field label not supported: spec.containers"):
        field_matcher("spec.containers=x", PODS)
