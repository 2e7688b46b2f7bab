"""Reading and editing the `images:` entry of a kustomization.yaml, as text.

ruamel.yaml only *locates* the entry; the file is edited line by line and parsed
again to check that exactly the intended values changed, because dumping with
ruamel reformats quoting and indentation, which reviewers of a GitOps repository
rightly reject. No git and no Django here: text in, text out.
"""

from __future__ import annotations

import copy
import re
import warnings
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from apps.environments.gitops.errors import (
    GitOpsError,
    ImageNotFound,
    InvalidTag,
    InvalidYaml,
    NoImagesList,
    UneditableEntry,
)

TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


# A Flux policy reference: "<namespace>:<policy name>", both Kubernetes DNS names.
POLICY_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


# Flux setter markers: "<ns>:<policy>" (whole image ref) and the ":tag", ":name"
# and ":digest" variants that set one part of it.
MARKER_RE = re.compile(r'#\s*\{\s*"\$imagepolicy"\s*:\s*"(?P<setter>[^"]+)"\s*\}')


# Words some YAML loader (1.1 booleans, Go's yaml.v2) reads as non-strings.
_NON_STRING_WORDS = {
    *("y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "infinity"),
}


@dataclass(frozen=True)
class ImageEntry:
    """One `images:` entry as it stands at `sha`."""

    sha: str
    path: str
    name: str
    new_name: str | None
    new_tag: str | None
    digest: str | None
    policy: str | None  # "payments:checkout-api" when the newTag line has a setter marker
    follows_automation: bool
    line: int  # 1-based line of the entry


@dataclass(frozen=True)
class Edit:
    """The outcome of editing a kustomization text."""

    text: str
    changed: bool
    unpinned_policy: str | None = None
    removed_digest: str | None = None


def tag_valid(tag: str) -> bool:
    return isinstance(tag, str) and TAG_PATTERN.fullmatch(tag) is not None


def entry_read(text: str, *, image: str, sha: str = "", path: str = "") -> ImageEntry:
    """The image's entry in a kustomization text."""
    doc = _load(text, path)
    _, item = _find_entry(doc, image, path)
    lines = _split_lines(text)
    new_tag = item.get("newTag")
    policy = None
    if "newTag" in item and not _is_flow(doc, item):
        try:
            field = _field(lines, item, "newTag")
        except UneditableEntry:
            pass  # an unusual value (block scalar, alias...): report what YAML reads, without a marker
        else:
            new_tag = _unquote(field)
            setter = _marker(field.comment)
            policy = _policy_of(setter) if setter else None

    def _str(value: object) -> str | None:
        return None if value is None else str(value)

    return ImageEntry(
        sha=sha,
        path=path,
        name=str(item["name"]),
        new_name=_str(item.get("newName")),
        new_tag=_str(new_tag),
        digest=_str(item.get("digest")),
        policy=policy,
        follows_automation=policy is not None,
        line=item.lc.line + 1,
    )


def edit_set_tag(text: str, *, image: str, tag: str) -> Edit:
    """Set newTag on the image's entry, dropping its setter marker and digest; only those lines change."""
    if not tag_valid(tag):
        raise InvalidTag(f"{tag!r} is not a valid image tag (must match {TAG_PATTERN.pattern}).")
    doc = _load(text)
    index, item = _find_entry(doc, image)
    _refuse_flow(doc, item, image)
    lines = _split_lines(text)
    unpinned = removed_digest = None
    # Locate every line first: inserting or deleting lines shifts the ones below.
    tag_field = _field(lines, item, "newTag") if "newTag" in item else None
    name_field = _field(lines, item, "name")
    digest_field = _field(lines, item, "digest") if "digest" in item else None
    if digest_field and lines[digest_field.line][0][: item.lc.key("digest")[1]].strip():
        raise UneditableEntry(
            f"The entry for {image} starts with its digest (line {digest_field.line + 1}); "
            "Shirube removes digest lines only when `name:` comes first. Reorder the entry."
        )

    if tag_field:
        comment = tag_field.comment
        setter = _marker(comment)
        if setter:
            unpinned = _policy_of(setter)
            comment = _drop_marker(comment)
        raw = tag_field.raw if _unquote(tag_field) == tag else _format_scalar(tag, tag_field.style)
        lines[tag_field.line][0] = tag_field.prefix + raw + comment

    def insert_tag() -> None:
        line = name_field.line
        indent = " " * item.lc.key("name")[1]
        new_line = [f"{indent}newTag: {_format_scalar(tag, '')}", lines[line][1]]
        lines[line][1] = lines[line][1] or _dominant_ending(lines)
        lines.insert(line + 1, new_line)

    def delete_digest() -> None:
        _delete_line(lines, digest_field.line)

    ops = []
    if not tag_field:
        ops.append((name_field.line, insert_tag))
    if digest_field:
        removed_digest = str(item["digest"])
        ops.append((digest_field.line, delete_digest))
    for _, op in sorted(ops, key=lambda pair: pair[0], reverse=True):
        op()

    new_text = _join_lines(lines)
    expected = _plain(doc)
    expected_entry = expected["images"][index]
    expected_entry["newTag"] = tag
    expected_entry.pop("digest", None)
    _verify(new_text, expected, index, image, tag=tag, marker=None)
    return Edit(new_text, new_text != text, unpinned, removed_digest)


def edit_follow_automation(text: str, *, image: str, policy: str) -> Edit:
    """Put the Flux setter marker for policy on the image's newTag line; drop a digest that overrides it."""
    policy = policy_check(policy)
    doc = _load(text)
    index, item = _find_entry(doc, image)
    _refuse_flow(doc, item, image)
    if "newTag" not in item:
        raise UneditableEntry(
            f"The entry for {image} has no newTag line to put the image policy marker on; set a tag first."
        )
    lines = _split_lines(text)
    field = _field(lines, item, "newTag")
    marker = f'# {{"$imagepolicy": "{policy}:tag"}}'
    comment = field.comment
    hash_at = comment.find("#")
    # The setter must be the whole line comment for Flux to see it, so it replaces any other comment.
    comment = comment[:hash_at] + marker if hash_at >= 0 else f" {marker}"
    lines[field.line][0] = field.prefix + field.raw + comment
    expected = _plain(doc)
    removed_digest = None
    if "digest" in item:
        digest_field = _field(lines, item, "digest")
        if (
            not _marker(digest_field.comment)
            and not lines[digest_field.line][0][: item.lc.key("digest")[1]].strip()
        ):
            # An unmanaged digest would override whatever tag automation writes.
            removed_digest = str(item["digest"])
            _delete_line(lines, digest_field.line)
            expected["images"][index].pop("digest")
    new_text = _join_lines(lines)
    _verify(new_text, expected, index, image, tag=None, marker=f"{policy}:tag")
    return Edit(new_text, new_text != text, None, removed_digest)


@dataclass
class _Field:
    line: int  # 0-based
    prefix: str  # the line up to the value
    raw: str  # the scalar as written, quotes included
    style: str  # "", "'" or '"'
    comment: str  # what follows the value: spaces and an optional comment


def _load(text: str, path: str = "") -> CommentedMap:
    where = f" {path}" if path else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        at = f" at line {line}, column {column}" if mark else ""
        raise InvalidYaml(
            f"The kustomization{where} is not valid YAML{at}: {problem}.", line, column
        ) from None
    except YAMLError as exc:
        raise InvalidYaml(f"The kustomization{where} is not valid YAML: {exc}.") from None
    if not isinstance(doc, CommentedMap):
        raise NoImagesList(f"The kustomization{where} is not a YAML mapping, so it has no images: list.")
    return doc


def _find_entry(doc: CommentedMap, image: str, path: str = "") -> tuple[int, CommentedMap]:
    where = f" {path}" if path else ""
    images = doc.get("images")
    if not isinstance(images, CommentedSeq):
        raise NoImagesList(
            f"The kustomization{where} has no images: list; add an entry for {image} with name and newTag."
        )
    names = [str(item.get("name")) for item in images if isinstance(item, CommentedMap) and "name" in item]
    matches = [
        (i, item)
        for i, item in enumerate(images)
        if isinstance(item, CommentedMap) and item.get("name") == image
    ]
    if not matches:
        present = ", ".join(names) if names else "none"
        raise ImageNotFound(
            f"The kustomization{where} has no images entry named {image}; images present: {present}.", names
        )
    if len(matches) > 1:
        lines = ", ".join(str(item.lc.line + 1) for _, item in matches)
        raise UneditableEntry(f"The kustomization{where} names {image} more than once (lines {lines}).")
    return matches[0]


def _is_flow(doc: CommentedMap, item: CommentedMap) -> bool:
    return bool(doc["images"].fa.flow_style() or item.fa.flow_style())


def _refuse_flow(doc: CommentedMap, item: CommentedMap, image: str) -> None:
    if _is_flow(doc, item):
        raise UneditableEntry(
            f"The entry for {image} (line {item.lc.line + 1}) is written in flow style "
            "({name: ..., newTag: ...}); Shirube edits block-style entries only, to keep the diff "
            "to the changed lines. Rewrite it as `- name: ...` with one key per line."
        )


def _split_lines(text: str) -> list[list[str]]:
    """[content, ending] pairs; only \\n ends a line, so CRLF endings survive as "\\r\\n"."""
    lines = []
    for chunk in re.split(r"(?<=\n)", text):
        if chunk:
            ending = "\r\n" if chunk.endswith("\r\n") else "\n" if chunk.endswith("\n") else ""
            lines.append([chunk[: len(chunk) - len(ending)], ending])
    return lines


def _join_lines(lines: list[list[str]]) -> str:
    return "".join(content + ending for content, ending in lines)


def _dominant_ending(lines: list[list[str]]) -> str:
    crlf = sum(1 for _, ending in lines if ending == "\r\n")
    return "\r\n" if crlf > len(lines) / 2 else "\n"


def _delete_line(lines: list[list[str]], index: int) -> None:
    if not lines[index][1] and index > 0:
        # The last line had no line break: keep it that way for the new last line.
        lines[index - 1][1] = ""
    del lines[index]


def _field(lines: list[list[str]], item: CommentedMap, key: str) -> _Field:
    """Find key's one-line scalar value in the text, from ruamel's line/column marks."""
    key_line, key_col = item.lc.key(key)
    value_line, value_col = item.lc.value(key)
    where = f"line {key_line + 1}"
    if key_line >= len(lines) or not lines[key_line][0][key_col:].startswith(key):
        raise UneditableEntry(f"Could not locate {key} on {where} (unusual line breaks in the file?).")
    content = lines[key_line][0]
    rest = content[value_col:] if value_line == key_line else ""
    if not rest or rest[0] in "|>&*!{[":
        raise UneditableEntry(f"{key} on {where} is not a simple one-line value; Shirube will not edit it.")
    if rest[0] in "\"'":
        quote, i = rest[0], 1
        while i < len(rest):
            escaped = quote == '"' and rest[i] == "\\"
            doubled = quote == "'" and rest[i : i + 2] == "''"
            if escaped or doubled:
                i += 2
            elif rest[i] == quote:
                break
            else:
                i += 1
        raw = rest[: i + 1]
        style = quote
    else:
        comment_at = re.search(r"[ \t]#", rest)
        raw = rest[: comment_at.start() if comment_at else len(rest)].rstrip(" \t")
        style = ""
    comment = rest[len(raw) :]
    if not re.fullmatch(r"([ \t]*|[ \t]+#.*)", comment) or _scalar(raw) != item[key]:
        raise UneditableEntry(f"{key} on {where} is not a simple one-line value; Shirube will not edit it.")
    return _Field(key_line, content[:value_col], raw, style, comment)


def _scalar(raw: str) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return YAML(typ="rt").load(f"v: {raw}\n")["v"]
    except YAMLError:
        return object()  # matches nothing


def _unquote(field: _Field) -> str:
    return str(_scalar(field.raw)) if field.style else field.raw


def _needs_quotes(tag: str) -> bool:
    """Whether a YAML 1.1 or 1.2 loader (or Go's yaml) would read the bare tag as a non-string."""
    if tag.lower() in _NON_STRING_WORDS:
        return True
    for version in ("1.1", "1.2"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = YAML(typ="safe", pure=True).load(f"%YAML {version}\n---\nv: {tag}\n")["v"]
        if not isinstance(value, str):
            return True
    for parse in (float, lambda s: int(s, 0)):
        try:
            parse(tag)
        except ValueError:
            continue
        return True
    return False


def _format_scalar(tag: str, style: str) -> str:
    """The tag as YAML text: keeps the entry's quoting style, quotes when a loader would not read a string."""
    if style == "'":
        return f"'{tag}'"
    if style == '"' or _needs_quotes(tag):
        return f'"{tag}"'
    return tag


def _marker(comment: str) -> str | None:
    match = MARKER_RE.search(comment)
    return match["setter"] if match else None


def _policy_of(setter: str) -> str:
    parts = setter.split(":")
    if len(parts) == 3 and parts[2] in ("tag", "name", "digest"):
        parts = parts[:2]
    return ":".join(parts)


def _drop_marker(comment: str) -> str:
    """Remove the setter from a line comment, and the comment if nothing else is left in it."""
    hash_at = comment.find("#")
    before, text = comment[:hash_at], comment[hash_at:]
    left = MARKER_RE.sub("", text).strip()
    if not left or left == "#":
        return ""
    return before + ("# " + left.lstrip("#").strip())


def policy_check(policy: str) -> str:
    policy = policy.strip().removesuffix(":tag")
    if not POLICY_PATTERN.fullmatch(policy):
        raise GitOpsError(
            "edit", f"{policy!r} is not an image policy reference; expected <namespace>:<policy name>."
        )
    return policy


def _plain(node: object) -> object:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return copy.deepcopy(node)


def _verify(
    text: str, expected: object, index: int, image: str, *, tag: str | None, marker: str | None
) -> None:
    """Re-parse the edited text: exactly the intended values changed, or fail loudly."""
    try:
        doc = _load(text)
    except GitOpsError as exc:
        raise GitOpsError(
            "edit", f"Editing {image} produced invalid YAML ({exc}); nothing was committed."
        ) from None
    problems = []
    if _plain(doc) != expected:
        problems.append("the parsed document differs from the intended one")
    item = doc["images"][index]
    if tag is not None and not (isinstance(item.get("newTag"), str) and item["newTag"] == tag):
        problems.append(f"newTag reads as {item.get('newTag')!r}")
    field = _field(_split_lines(text), item, "newTag")
    if _marker(field.comment) != marker:
        problems.append("the image policy marker is not as intended")
    if problems:
        raise GitOpsError(
            "edit",
            f"Editing {image} did not give the intended result ({'; '.join(problems)}); "
            "nothing was committed.",
        )
