"""Every Kubernetes manifest in the lessons, validated by a server-side dry-run (issue 4).

The curriculum must teach YAML the API accepts. Every fenced ```yaml / ```yml block in
content/**/*.md (not the front matter) is split into its documents; each mapping with
`apiVersion` and `kind` is one test, with an id such as
`03-flux/02-helmreleases.md:block3` (`:block2.doc3` for the third document of a
multi-document block), so a failure names the lesson and the block.

For each manifest the real kube-apiserver's discovery (GET /api, /apis,
/apis/<group>/<version>) says whether it serves the kind, under which plural, and
whether it is namespaced. Served kinds are sent as a dry-run create
(`POST <collection>?dryRun=All&fieldValidation=Strict`, so unknown and duplicate
fields fail like a missing required one); a failure shows the server's message.
Namespaced manifests go into the namespace they name (created for real first) or
into TEST_NAMESPACE. An object that already exists there (a namespace the test
created, say) is checked with a dry-run server-side apply instead.

Two kinds of document are not dry-run as complete objects (neither is a pytest skip, which
CI=true would fail):
- documents of an API group the server does not serve at all: listed by name in SKIPPED
  (printed at the end of the run) when the group is in NOT_INSTALLED_HERE (Argo Workflows,
  kustomize's own `kustomize.config.k8s.io` Kustomization), a failure for any other group;
- documents whose block (or document) starts with the line `# not-a-complete-manifest`,
  the marker for deliberately incomplete examples (a Kustomize patch, a "wrong" example
  in a Pitfalls section). They are still sent, and pass only if the server refuses them:
  a marker on a manifest the server accepts is a failure (remove the marker), so it can
  never hide a complete example from this check.
A wrong version of a served group, or a kind the served version does not have, fails
(unless marked: the server refuses those too).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.harness.plugin import SUMMARIES

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTENT = REPO_ROOT / "content"
MARKER = "# not-a-complete-manifest"
TEST_NAMESPACE = "lesson-manifests"
FIELD_MANAGER = "shirube-lesson-manifests"
DRY_RUN = [("dryRun", "All"), ("fieldValidation", "Strict")]
DISCOVERY_TIMEOUT = 60.0

# Filled in by the `plan` fixture: one line per skipped document, printed at the end of the run.
SKIPPED: list[str] = []
# Filled in as manifests pass.
VALIDATED: list[str] = []
# Filled in as marked fragments are refused, as they should be.
MARKED: list[str] = []


# -- collecting the manifests ---------------------------------------------------------------

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
LANGUAGE = re.compile(r"^\{?\s*\.?(?P<lang>[\w+#.-]+)")
SEPARATOR = re.compile(r"^---(?:[ \t]|$)")


@dataclass(frozen=True)
class Manifest:
    id: str
    file: str  # relative to the repository, e.g. content/03-flux/02-helmreleases.md
    line: int  # 1-based line in the lesson where the document (or the block) starts
    document: dict | None = None
    marked: bool = False  # `# not-a-complete-manifest`
    error: str | None = None  # the block is not valid YAML

    @property
    def api_version(self) -> str:
        return str(self.document["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def metadata(self) -> dict:
        metadata = self.document.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.metadata.get("generateName") or "(no name)")

    @property
    def namespace(self) -> str | None:
        namespace = self.metadata.get("namespace")
        return str(namespace) if namespace else None

    def describe(self) -> str:
        if self.document is None:
            return f"{self.file}:{self.line}"
        return f"{self.api_version} {self.kind} {self.name!r} ({self.file}:{self.line})"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (the API server would, with Strict)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def _front_matter_end(lines: list[str]) -> int:
    """Index of the first line after the `---` front matter (0 when there is none)."""
    if lines and lines[0].strip() == "---":
        for index in range(1, len(lines)):
            if lines[index].strip() in ("---", "..."):
                return index + 1
    return 0


def yaml_blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based line of the block's first content line, its lines dedented) per yaml block."""
    lines = text.splitlines()
    index = _front_matter_end(lines)
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        language = LANGUAGE.match(opening["info"].strip())
        if language and language["lang"].lower() in ("yaml", "yml"):
            body = [
                line[len(indent) :] if line.startswith(indent) else line for line in lines[index + 1 : end]
            ]
            yield index + 2, body
        index = end + 1


def _first_content_line(lines: list[str]) -> str:
    return next((line.strip() for line in lines if line.strip()), "")


def _documents(body: list[str]) -> Iterator[tuple[int, object, bool]]:
    """(0-based line in the block, data, marked) per YAML document of a block."""
    loader = _StrictLoader("\n".join(body) + "\n")
    try:
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node)
            root = node.start_mark.line
            start = root
            while start > 0 and not SEPARATOR.match(body[start - 1]):
                start -= 1
            if start > 0 and SEPARATOR.match(body[start - 1]) and body[start - 1].strip() != "---":
                start -= 1  # `--- # comment` on the separator line itself
            yield root, data, _first_content_line(body[start:root]).startswith(MARKER)
    finally:
        loader.dispose()


def _is_translation(path: Path) -> bool:
    return len(path.suffixes) > 1  # `01-pods.ja.md`


def _same(manifest: Manifest) -> tuple[str, bool]:
    return json.dumps(manifest.document, sort_keys=True, default=str), manifest.marked


def collect_manifests(content: Path = CONTENT) -> list[Manifest]:
    """Every manifest of the English lessons, and those of translations that differ from their English.

    A translation repeats its English file's manifests with the comments translated; the
    server would answer those the same, so only a document the English file does not hold
    (or a block that is not valid YAML) is checked again.
    """
    paths = sorted(content.rglob("*.md"), key=lambda path: (_is_translation(path), path))
    english: dict[Path, set[tuple[str, bool]]] = {}
    manifests: list[Manifest] = []
    for path in paths:
        found = _collect_file(content, path)
        if not _is_translation(path):
            english[path] = {_same(m) for m in found if m.document is not None}
        else:
            source = path.with_name(path.name.split(".")[0] + ".md")
            found = [m for m in found if m.document is None or _same(m) not in english.get(source, set())]
        manifests += found
    return manifests


def _collect_file(content: Path, path: Path) -> list[Manifest]:
    manifests: list[Manifest] = []
    lesson = path.relative_to(content).as_posix()
    file = path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)
    for number, (first_line, body) in enumerate(yaml_blocks(path.read_text()), start=1):
        block_id = f"{lesson}:block{number}"
        block_marked = _first_content_line(body).startswith(MARKER)
        try:
            documents = list(_documents(body))
        except yaml.YAMLError as error:
            if isinstance(error, yaml.MarkedYAMLError):  # point at the lesson's own lines
                for mark in (error.context_mark, error.problem_mark):
                    if mark is not None:
                        mark.name, mark.line = file, mark.line + first_line - 1
            manifests.append(Manifest(id=block_id, file=file, line=first_line, error=str(error)))
            continue
        for position, (line, data, marked) in enumerate(documents, start=1):
            if not (isinstance(data, dict) and "apiVersion" in data and "kind" in data):
                continue
            manifests.append(
                Manifest(
                    id=block_id if len(documents) == 1 else f"{block_id}.doc{position}",
                    file=file,
                    line=first_line + line,
                    document=data,
                    marked=block_marked or marked,
                )
            )
    return manifests


MANIFESTS = collect_manifests()


# -- talking to the API server through the ApiClient ------------------------------------------


@dataclass
class Response:
    status: int
    body: object  # parsed JSON, or the text when it is not JSON
    warnings: list[str] = field(default_factory=list)

    def message(self) -> str:
        """The server's own words: Status.message and each cause."""
        if not isinstance(self.body, dict):
            return f"HTTP {self.status}: {self.body}"
        text = f"HTTP {self.status} {self.body.get('reason', '')}: {self.body.get('message', self.body)}"
        causes = (self.body.get("details") or {}).get("causes") or []
        for cause in causes:
            text += f"\n  - {cause.get('field', '')}: {cause.get('message', '')} ({cause.get('reason', '')})"
        return text


def request(api, method: str, path: str, *, query=None, body=None, content_type="application/json"):
    method, url, headers, body, post_params = api.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(
        method, url, header_params=headers, body=body, post_params=post_params, _request_timeout=30
    )
    raw = response.read()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    warnings = [value for key, value in response.headers.items() if key.lower() == "warning"]
    return Response(response.status, parsed, warnings)


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class Discovery:
    """What the server serves, from its discovery endpoints."""

    def __init__(self, api):
        self.api = api
        self._resources: dict[tuple[str, str], list[dict] | None] = {}
        self.groups = self._groups()

    def _groups(self) -> dict[str, list[str]]:
        core = request(self.api, "GET", "/api")
        apis = request(self.api, "GET", "/apis")
        assert core.status == 200 and apis.status == 200, (
            f"discovery failed: {core.message()} {apis.message()}"
        )
        groups = {"": list(core.body["versions"])}
        for group in apis.body["groups"]:
            groups[group["name"]] = [v["version"] for v in group["versions"]]
        return groups

    @staticmethod
    def base(group: str, version: str) -> str:
        return f"/api/{version}" if group == "" else f"/apis/{group}/{version}"

    def resources(self, group: str, version: str) -> list[dict] | None:
        if (group, version) not in self._resources:
            answer = request(self.api, "GET", self.base(group, version))
            if answer.status == 404:
                self._resources[group, version] = None
            else:
                assert answer.status == 200, f"discovery of {group}/{version}: {answer.message()}"
                self._resources[group, version] = [
                    r for r in answer.body.get("resources", []) if "/" not in r["name"]
                ]
        return self._resources[group, version]

    def find(self, group: str, version: str, kind: str) -> dict | None:
        return next((r for r in self.resources(group, version) or [] if r["kind"] == kind), None)


def _discovery_after_crds(api) -> Discovery:
    """Discovery once every installed CRD's served versions and kind show up in it."""
    crds = request(api, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    assert crds.status == 200, crds.message()
    expected = {
        (crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"])
        for crd in crds.body["items"]
        for version in crd["spec"]["versions"]
        if version.get("served")
    }
    deadline = time.monotonic() + DISCOVERY_TIMEOUT
    while True:
        discovery = Discovery(api)
        missing = sorted(
            (g, v, k)
            for g, v, k in expected
            if v not in discovery.groups.get(g, []) or discovery.find(g, v, k) is None
        )
        if not missing:
            return discovery
        if time.monotonic() > deadline:
            pytest.fail(f"installed CRDs not in discovery after {DISCOVERY_TIMEOUT:.0f} s: {missing}")
        time.sleep(0.25)


@dataclass(frozen=True)
class Decision:
    plural: str | None = None
    namespaced: bool = False
    base: str = ""
    skip: str | None = None  # the API group is not served here
    error: str | None = None
    marked: bool = False  # `# not-a-complete-manifest`: the server must refuse it


def decide(manifest: Manifest, discovery: Discovery) -> Decision:
    if manifest.error is not None:
        return Decision(error=f"the block is not valid YAML: {manifest.error}")
    marked = manifest.marked
    group, version = _group_version(manifest.api_version)
    if group not in discovery.groups:
        return Decision(
            skip=f"API group {group!r} ({manifest.api_version} {manifest.kind}) is not served by this "
            "API server (its CRDs are not installed)",
            marked=marked,
        )
    if version not in discovery.groups[group]:
        if marked:  # the server refuses it, as a marked fragment should be refused
            return Decision(marked=True)
        served = ", ".join(f"{group}/{v}" if group else v for v in discovery.groups[group])
        return Decision(error=f"apiVersion {manifest.api_version} is not served; the server serves {served}")
    resource = discovery.find(group, version, manifest.kind)
    if resource is None:
        if marked:
            return Decision(marked=True)
        kinds = ", ".join(sorted(r["kind"] for r in discovery.resources(group, version) or []))
        return Decision(
            error=f"kind {manifest.kind!r} is not served by {manifest.api_version} (it serves: {kinds})"
        )
    return Decision(
        plural=resource["name"],
        namespaced=bool(resource["namespaced"]),
        base=Discovery.base(group, version),
        marked=marked,
    )


# -- fixtures --------------------------------------------------------------------------------


def _report_lines() -> list[str]:
    """The counts, and the manifests not dry-run here (by name), for the end of the run."""
    return [
        f"lesson manifests (server-side dry-run): {len(VALIDATED)} manifests validated, {len(MARKED)} "
        f"marked fragment(s) refused as they should be, {len(SKIPPED)} of APIs not installed here "
        f"(checked against an explicit list), of {len(MANIFESTS)} collected",
        *(f"not installed here: {line}" for line in SKIPPED),
    ]


@pytest.fixture(scope="module")
def api(real_kube):
    return real_kube.api_client()


@pytest.fixture(scope="module")
def discovery(api) -> Discovery:
    return _discovery_after_crds(api)


@pytest.fixture(scope="module")
def plan(discovery) -> dict[str, Decision]:
    decisions = {manifest.id: decide(manifest, discovery) for manifest in MANIFESTS}
    SKIPPED[:] = [
        f"{manifest.id}: {manifest.kind} {manifest.name!r}: {decisions[manifest.id].skip}"
        for manifest in MANIFESTS
        if decisions[manifest.id].skip
    ]
    if _report_lines not in SUMMARIES:
        SUMMARIES.append(_report_lines)
    return decisions


_namespaces: set[str] = set()


def ensure_namespace(api, name: str) -> None:
    """Create the namespace for real (not dry-run); 409 means it is already there."""
    if name in _namespaces:
        return
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    answer = request(api, "POST", "/api/v1/namespaces", body=body)
    assert answer.status in (201, 409), f"creating namespace {name!r}: {answer.message()}"
    _namespaces.add(name)


# API groups the lessons use that this test server does not serve: no CRDs for them
# are available here (only Flux's are, in ../shared/flux-crds). Their manifests are
# parsed and listed, not dry-run.
NOT_INSTALLED_HERE = {
    "argoproj.io": "Argo Workflows CRDs are not installed on the test server",
    "kustomize.config.k8s.io": "kustomize's own Kustomization is read by kustomize, never sent to a server",
}


def dry_run(api, manifest: Manifest, decision: Decision) -> tuple[Response, str]:
    """The server's answer to the manifest as a strict dry-run, and how it was asked."""
    collection = f"{decision.base}/{decision.plural}"
    if decision.namespaced:
        namespace = manifest.namespace or TEST_NAMESPACE
        ensure_namespace(api, namespace)
        collection = f"{decision.base}/namespaces/{namespace}/{decision.plural}"

    answer = request(api, "POST", collection, query=DRY_RUN, body=manifest.document)
    how = "dry-run create"
    if (
        answer.status == 409
        and isinstance(answer.body, dict)
        and answer.body.get("reason") == "AlreadyExists"
    ):
        # Already there (a namespace this test created): check it as `kubectl apply
        # --server-side --dry-run=server` would, against the existing object.
        how = "dry-run server-side apply (the object already exists)"
        answer = request(
            api,
            "PATCH",
            f"{collection}/{manifest.metadata.get('name')}",
            query=[*DRY_RUN, ("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=json.dumps(manifest.document),
            content_type="application/apply-patch+yaml",
        )
    return answer, how


def check(manifest: Manifest, decision: Decision, api) -> None:
    """Return if the manifest is as the lessons promise; pytest.fail with the reason if not."""
    group = manifest.api_version.split("/")[0] if "/" in manifest.api_version else ""
    if decision.skip and group in NOT_INSTALLED_HERE:
        # Not a skip: the manifest parsed, and its API is one this test server has
        # no CRDs for (listed, with why, in NOT_INSTALLED_HERE). A new group fails.
        print(f"{manifest.id}: {manifest.kind} {manifest.name!r}: {decision.skip}")
        return
    if decision.skip:
        pytest.fail(f"{manifest.id}: {manifest.kind} {manifest.name!r}: {decision.skip}", pytrace=False)
    if decision.error:
        pytest.fail(f"{manifest.id}: {manifest.describe()}: {decision.error}", pytrace=False)

    if decision.marked:
        # A deliberately incomplete example (a Kustomize patch, a "wrong" example) is not
        # held to the complete-object standard. It is still sent, and must be refused: a
        # marker on a manifest the server accepts would stop checking a complete example.
        if decision.plural is None:
            MARKED.append(f"{manifest.id}: {manifest.api_version} {manifest.kind} is not served here")
            return
        answer, how = dry_run(api, manifest, decision)
        if answer.status in (200, 201):
            pytest.fail(
                f"{manifest.id}: {manifest.describe()} is marked {MARKER!r}, but the API server accepts "
                f"it ({how}): remove the marker, so that it is checked as a complete manifest",
                pytrace=False,
            )
        MARKED.append(f"{manifest.id}: refused as it should be (HTTP {answer.status})")
        return

    answer, how = dry_run(api, manifest, decision)
    if answer.status not in (200, 201):
        pytest.fail(
            f"{manifest.id}: the API server rejects {manifest.describe()} ({how}):\n{answer.message()}",
            pytrace=False,
        )
    if answer.warnings:
        pytest.fail(
            f"{manifest.id}: the API server accepts {manifest.describe()} with warnings ({how}):\n"
            + "\n".join(f"  - {warning}" for warning in answer.warnings),
            pytrace=False,
        )
    VALIDATED.append(manifest.id)


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("manifest", MANIFESTS, ids=[m.id for m in MANIFESTS])
def test_lesson_manifest_passes_a_server_side_dry_run(manifest: Manifest, plan, api):
    check(manifest, plan[manifest.id], api)


def test_lesson_manifests_are_validated_and_skips_are_listed(plan):
    served = [m.id for m in MANIFESTS if not plan[m.id].skip and not plan[m.id].error]
    print(
        f"{len(served)} lesson manifests served by the API server, {len(SKIPPED)} of APIs not installed here:"
    )
    for line in SKIPPED:
        print(f"  not installed here: {line}")
    assert len(served) > 0, f"no lesson manifest is of a kind the API server serves; skipped: {SKIPPED}"
    assert len({m.id for m in MANIFESTS}) == len(MANIFESTS), "manifest ids are not unique"


PATCH = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout-api
spec:
  template:
    spec:
      terminationGracePeriodSeconds: 45
"""
COMPLETE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: checkout-api-settings
data:
  LOG_LEVEL: info
"""
# A Kustomize patch, marked; a complete object, marked all the same; the patch, not marked.
MARKED_FRAGMENTS = (
    "---\ntitle: t\n---\n"
    f"```yaml\n{MARKER}\n{PATCH}```\n\n"
    f"```yaml\n{MARKER}\n{COMPLETE}```\n\n"
    f"```yaml\n{PATCH}```\n"
)


def test_a_marked_fragment_passes_only_while_the_server_refuses_it(tmp_path, discovery, api):
    lesson = tmp_path / "01-phase" / "01-lesson.md"
    lesson.parent.mkdir()
    lesson.write_text(MARKED_FRAGMENTS)
    patch, complete, unmarked = collect_manifests(tmp_path)
    assert (patch.marked, complete.marked, unmarked.marked) == (True, True, False)

    check(patch, decide(patch, discovery), api)  # refused (no selector, no containers): fine
    assert MARKED.pop() == f"{patch.id}: refused as it should be (HTTP 422)"  # not a lesson's
    with pytest.raises(pytest.fail.Exception, match="remove the marker"):
        check(complete, decide(complete, discovery), api)
    with pytest.raises(pytest.fail.Exception, match="the API server rejects"):
        check(unmarked, decide(unmarked, discovery), api)


def test_a_translation_adds_only_the_manifests_its_english_does_not_hold(tmp_path):
    english = "---\ntitle: t\n---\n```yaml\n# a config\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n```\n"
    (tmp_path / "01-phase").mkdir()
    (tmp_path / "01-phase" / "01-lesson.md").write_text(english)
    (tmp_path / "01-phase" / "01-lesson.ja.md").write_text(
        english.replace("# a config", "# 設定")  # the same object, its comment translated
        + "```yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: only-in-japanese\n```\n"
        + "```yaml\napiVersion: v1\nkind: [broken\n```\n"
    )
    found = sorted(m.id for m in collect_manifests(tmp_path))
    assert found == [
        "01-phase/01-lesson.ja.md:block2",
        "01-phase/01-lesson.ja.md:block3",
        "01-phase/01-lesson.md:block1",
    ]


def test_collecting_manifests_finds_fenced_yaml_and_skips_front_matter(tmp_path):
    lesson = tmp_path / "01-phase" / "01-lesson.md"
    lesson.parent.mkdir()
    lesson.write_text(
        "---\ntitle: t\nquiz: []\n---\nText.\n\n"
        "```yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
        "---\n# not-a-complete-manifest\napiVersion: v1\nkind: Pod\n---\ncontainers: []\n```\n\n"
        "```bash\necho apiVersion: v1\n```\n\n"
        '=== "tab"\n\n    ```yml\n    # not-a-complete-manifest\n    apiVersion: apps/v1\n'
        "    kind: Deployment\n    ```\n\n"
        "```yaml\ncontainers:\n  - name: web\n```\n\n"
        "```yaml\napiVersion: v1\nkind: Service\nmetadata: {name: a, name: b}\n```\n"
    )
    found = {m.id: m for m in collect_manifests(tmp_path)}
    assert sorted(found) == [
        "01-phase/01-lesson.md:block1.doc1",
        "01-phase/01-lesson.md:block1.doc2",
        "01-phase/01-lesson.md:block2",
        "01-phase/01-lesson.md:block4",
    ]
    assert found["01-phase/01-lesson.md:block1.doc1"].line == 8
    assert not found["01-phase/01-lesson.md:block1.doc1"].marked
    assert found["01-phase/01-lesson.md:block1.doc2"].marked
    assert found["01-phase/01-lesson.md:block2"].marked
    assert found["01-phase/01-lesson.md:block2"].kind == "Deployment"
    assert "duplicate key 'name'" in found["01-phase/01-lesson.md:block4"].error
