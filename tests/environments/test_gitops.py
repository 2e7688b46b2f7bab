"""The GitOps writer against real bare repositories (no mocks)."""

from __future__ import annotations

import base64
import fcntl
import http.server
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from apps.environments.gitops import (
    TAG_PATTERN,
    CredentialsError,
    GitOpsError,
    ImageNotFound,
    InvalidTag,
    InvalidYaml,
    KustomizationMissing,
    NoImagesList,
    PushGaveUp,
    PushRejected,
    RepositoryRefused,
    RepoSpec,
    RepoUnreachable,
    UneditableEntry,
    head_sha,
    image_follow_automation,
    image_read,
    image_set_tag,
    tag_valid,
    workdir_for,
)
from tests.environments.conftest import GIT_KUSTOMIZATION, GIT_KUSTOMIZATION_PATH

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT = "ghcr.io/acme/checkout-api"
WORKER = "ghcr.io/acme/worker"
LEDGER = "ghcr.io/acme/ledger"
MARKER = '# {"$imagepolicy": "payments:checkout-api:tag"}'
AUTHOR = {"author_name": "Ada Lovelace", "author_email": "ada@example.com"}


def set_tag(spec, image=CHECKOUT, tag="1.5.0", path=GIT_KUSTOMIZATION_PATH, **kwargs):
    return image_set_tag(
        spec, path=path, image=image, tag=tag, message=f"Deploy {tag}", **{**AUTHOR, **kwargs}
    )


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-\\" and not line.startswith(("+++", "---"))]


# --- exact diffs ---------------------------------------------------------------

ENTRY = "images:\n  - name: app\n    newTag: 1.0.0\n"

EXACT_CASES = {
    "marker is removed with the old tag": (
        GIT_KUSTOMIZATION,
        CHECKOUT,
        "1.5.0",
        [f"-    newTag: 1.4.2 {MARKER}", "+    newTag: 1.5.0"],
    ),
    "digest goes, quoting style stays": (
        GIT_KUSTOMIZATION,
        WORKER,
        "8",
        [
            "-    newTag: '7'",
            "-    digest: sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904  # pinned by ops",
            "+    newTag: '8'",
        ],
    ),
    "double quotes stay": (
        GIT_KUSTOMIZATION,
        LEDGER,
        "2024.07.01",
        ['-    newTag: "2024.06.01"', '+    newTag: "2024.07.01"'],
    ),
    "1.10 is quoted": (ENTRY, "app", "1.10", ["-    newTag: 1.0.0", '+    newTag: "1.10"']),
    "2 is quoted": (ENTRY, "app", "2", ["-    newTag: 1.0.0", '+    newTag: "2"']),
    "1e3 is quoted": (ENTRY, "app", "1e3", ["-    newTag: 1.0.0", '+    newTag: "1e3"']),
    "true is quoted": (ENTRY, "app", "true", ["-    newTag: 1.0.0", '+    newTag: "true"']),
    "0x1F is quoted": (ENTRY, "app", "0x1F", ["-    newTag: 1.0.0", '+    newTag: "0x1F"']),
    "v2 is not": (ENTRY, "app", "v2", ["-    newTag: 1.0.0", "+    newTag: v2"]),
    "newName entries match by name": (
        "images:\n- name: app\n  newName: other.registry/app # mirror\n  newTag: v1\n- name: other.registry/app\n  newTag: v1\n",
        "app",
        "v2",
        ["-  newTag: v1", "+  newTag: v2"],
    ),
    "missing newTag is added after name": (
        "images:\n  - name: app\n    newName: mirror/app\n",
        "app",
        "v2",
        ["+    newTag: v2"],
    ),
    "digest-only entry": (
        "images:\n  -   name: app # odd indent\n      digest: sha256:abc\n  - name: b\n    newTag: x\n",
        "app",
        "v2",
        ["-      digest: sha256:abc", "+      newTag: v2"],
    ),
    "no trailing newline": (
        "images:\n  - name: app\n    newTag: v1",
        "app",
        "v2",
        [
            "-    newTag: v1",
            "\\ No newline at end of file",
            "+    newTag: v2",
            "\\ No newline at end of file",
        ],
    ),
}


@pytest.mark.parametrize("case", EXACT_CASES, ids=list(EXACT_CASES))
def test_it_changes_exactly_the_lines_that_had_to_change(case, git_make_remote, git_spec, git_head):
    before, image, tag, expected = EXACT_CASES[case]
    bare = git_make_remote({"k/kustomization.yaml": before})

    result = set_tag(git_spec(bare), image=image, tag=tag, path="k/kustomization.yaml")

    assert result.changed
    assert changed_lines(result.diff) == expected
    # git diff shows every changed line: nothing else was reformatted.
    assert git_head(bare) == result.sha


def test_it_keeps_crlf_line_endings(git_make_remote, git_spec, git_remote_file):
    before = GIT_KUSTOMIZATION.replace("\n", "\r\n").encode()
    bare = git_make_remote({GIT_KUSTOMIZATION_PATH: before})

    set_tag(git_spec(bare), image=WORKER, tag="8")

    expected = before.replace(b"    newTag: '7'\r\n", b"    newTag: '8'\r\n").replace(
        b"    digest: sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904  # pinned by ops\r\n", b""
    )
    assert git_remote_file(bare) == expected


def test_it_adds_a_crlf_newtag_line_to_a_crlf_file(git_make_remote, git_spec, git_remote_file):
    bare = git_make_remote({GIT_KUSTOMIZATION_PATH: b"images:\r\n  - name: app\r\n    newName: m/app\r\n"})

    set_tag(git_spec(bare), image="app", tag="v2")

    assert git_remote_file(bare) == b"images:\r\n  - name: app\r\n    newTag: v2\r\n    newName: m/app\r\n"


def test_it_refuses_flow_style_entries_and_commits_nothing(git_make_remote, git_spec, git_head):
    bare = git_make_remote({GIT_KUSTOMIZATION_PATH: "images:\n  - {name: app, newTag: v1}\n"})
    before = git_head(bare)

    with pytest.raises(UneditableEntry, match="flow style") as caught:
        set_tag(git_spec(bare), image="app", tag="v2")

    assert caught.value.step == "edit"
    assert git_head(bare) == before
    # Reading still works.
    assert image_read(git_spec(bare), path=GIT_KUSTOMIZATION_PATH, image="app").new_tag == "v1"


def test_setting_the_current_tag_without_a_marker_changes_nothing(git_remote, git_spec, git_head):
    before = git_head(git_remote)

    result = set_tag(git_spec(), image=LEDGER, tag="2024.06.01")

    assert (result.changed, result.sha, result.diff) == (False, before, "")
    assert git_head(git_remote) == before


# --- pin / follow automation ----------------------------------------------------


def test_pinning_removes_the_marker_and_following_again_restores_the_file(
    git_remote, git_spec, git_run, git_remote_file
):
    spec = git_spec()

    pinned = set_tag(spec, tag="1.4.2")

    assert pinned.changed and pinned.unpinned_policy == "payments:checkout-api"
    assert changed_lines(pinned.diff) == [f"-    newTag: 1.4.2 {MARKER}", "+    newTag: 1.4.2"]
    message = git_run(f"--git-dir={git_remote}", "log", "-1", "--format=%B", "main")
    assert message.startswith("Deploy 1.4.2\n\n")
    assert (
        'Pinned: removed the image policy marker payments:checkout-api; "Follow automation again" restores it.'
        in message
    )
    entry = image_read(spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT)
    assert (entry.follows_automation, entry.policy, entry.sha) == (False, None, pinned.sha)

    followed = image_follow_automation(
        spec,
        path=GIT_KUSTOMIZATION_PATH,
        image=CHECKOUT,
        policy="payments:checkout-api",
        message="Follow automation again",
        **AUTHOR,
    )

    assert followed.changed
    assert git_remote_file(git_remote).decode() == GIT_KUSTOMIZATION
    entry = image_read(spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT)
    assert (entry.follows_automation, entry.policy) == (True, "payments:checkout-api")


def test_following_automation_replaces_a_comment_and_drops_an_unmanaged_digest(git_remote, git_spec):
    result = image_follow_automation(
        git_spec(),
        path=GIT_KUSTOMIZATION_PATH,
        image=WORKER,
        policy="payments:worker",
        message="follow",
        **AUTHOR,
    )

    assert result.removed_digest == "sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    assert changed_lines(result.diff) == [
        "-    newTag: '7'",
        "-    digest: sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904  # pinned by ops",
        """+    newTag: '7' # {"$imagepolicy": "payments:worker:tag"}""",
    ]


def test_it_recognises_the_tagless_marker(git_make_remote, git_spec):
    text = 'images:\n  - name: app\n    newTag: v1 # {"$imagepolicy": "flux-system:app"}\n'
    bare = git_make_remote({GIT_KUSTOMIZATION_PATH: text})

    entry = image_read(git_spec(bare), path=GIT_KUSTOMIZATION_PATH, image="app")
    result = set_tag(git_spec(bare), image="app", tag="v2")

    assert (entry.policy, entry.follows_automation, entry.line) == ("flux-system:app", True, 2)
    assert result.unpinned_policy == "flux-system:app"
    assert changed_lines(result.diff)[-1] == "+    newTag: v2"


def test_the_commit_is_authored_by_the_requesting_user(git_remote, git_spec, git_run):
    result = set_tag(git_spec())

    log = git_run(f"--git-dir={git_remote}", "log", "-1", "--format=%an <%ae>|%cn <%ce>|%H", "main")
    assert log.strip() == f"Ada Lovelace <ada@example.com>|Shirube <shirube@localhost>|{result.sha}"


def test_it_reads_the_entry_and_the_head(git_remote, git_spec, git_head):
    spec = git_spec()

    entry = image_read(spec, path=GIT_KUSTOMIZATION_PATH, image=WORKER)

    assert entry.sha == git_head(git_remote) == head_sha(spec)
    assert (entry.name, entry.new_name, entry.new_tag, entry.digest, entry.line) == (
        WORKER,
        "registry.acme.test/worker",
        "7",
        "sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        12,
    )
    assert not entry.follows_automation


# --- concurrent pushers -----------------------------------------------------------


def install_racing_hook(bare: Path, tmp_path: Path, *, image: str, tags: list[str]) -> None:
    """A pre-receive hook that lets another Shirube (own clone cache) push first, once per tag.

    The other push lands while ours waits in pre-receive, so ours then fails to update
    the ref: a real race, made deterministic.
    """
    state = tmp_path / "race"
    state.mkdir()
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        state = Path({str(state)!r})
        tags = {tags!r}
        done = len(list(state.glob("pushed-*")))
        if (state / "busy").exists() or done >= len(tags):
            sys.exit(0)
        (state / "busy").touch()
        try:
            from apps.environments.gitops import RepoSpec, image_set_tag, workdir_for
            url = {str(bare)!r}
            image_set_tag(
                RepoSpec(url=url, branch="main", workdir=workdir_for(state / "other", url, "main"),
                         allow_local=True),
                path={GIT_KUSTOMIZATION_PATH!r}, image={image!r}, tag=tags[done],
                author_name="Grace Hopper", author_email="grace@example.com", message="other deploy",
            )
            (state / f"pushed-{{done}}").touch()
        finally:
            (state / "busy").unlink()
        """)
    )
    hook.chmod(0o755)


def test_a_racing_push_is_rebased_and_both_changes_land(
    git_remote, git_spec, git_remote_file, git_run, tmp_path
):
    install_racing_hook(git_remote, tmp_path, image=WORKER, tags=["8"])

    result = set_tag(git_spec())

    assert (result.how, result.attempts) == ("rebased", 2)
    text = git_remote_file(git_remote).decode()
    assert "    newTag: 1.5.0\n" in text and "    newTag: '8'\n" in text
    log = git_run(f"--git-dir={git_remote}", "log", "--format=%an: %s", "main").splitlines()
    assert log[:2] == ["Ada Lovelace: Deploy 1.5.0", "Grace Hopper: other deploy"]
    assert changed_lines(result.diff) == [f"-    newTag: 1.4.2 {MARKER}", "+    newTag: 1.5.0"]


def test_a_conflicting_race_reapplies_the_edit_on_the_new_head(
    git_remote, git_spec, git_remote_file, tmp_path
):
    install_racing_hook(git_remote, tmp_path, image=CHECKOUT, tags=["9.9.9"])

    result = set_tag(git_spec())

    assert (result.how, result.attempts) == ("reapplied", 2)
    assert changed_lines(result.diff) == ["-    newTag: 9.9.9", "+    newTag: 1.5.0"]
    assert b"    newTag: 1.5.0\n" in git_remote_file(git_remote)


def test_it_gives_up_when_others_keep_pushing(git_remote, git_spec, git_remote_file, git_run, tmp_path):
    install_racing_hook(git_remote, tmp_path, image=WORKER, tags=["8", "9", "10"])

    with pytest.raises(PushGaveUp, match="gave up after 3 attempts because others kept pushing") as caught:
        set_tag(git_spec(), attempts=3)

    assert caught.value.step == "push"
    authors = git_run(f"--git-dir={git_remote}", "log", "--format=%an", "main").splitlines()
    assert "Ada Lovelace" not in authors and authors.count("Grace Hopper") == 3
    # A later deploy (the remote has stopped moving) works.
    assert set_tag(git_spec()).how == "direct"


def make_fake_ssh(tmp_path: Path, bare: Path, *, race_tags: list[str] = (), sleep: float = 0) -> Path:
    """An `ssh` on PATH that logs its argv and runs the git command locally.

    Before serving our first git-receive-pack it lets another Shirube push, so our
    push is rejected client-side as non-fast-forward ("fetch first").
    """
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    state = tmp_path / "ssh-state"
    state.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import os, subprocess, sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        state = Path({str(state)!r})
        with open(state / "argv.log", "a") as log:
            log.write(repr(sys.argv[1:]) + "\\n")
        time.sleep({sleep!r})
        command = sys.argv[-1]
        tags = {list(race_tags)!r}
        done = len(list(state.glob("pushed-*")))
        if command.startswith("git-receive-pack") and done < len(tags):
            from apps.environments.gitops import RepoSpec, image_set_tag, workdir_for
            url = {str(bare)!r}
            image_set_tag(
                RepoSpec(url=url, branch="main", workdir=workdir_for(state / "other", url, "main"),
                         allow_local=True),
                path={GIT_KUSTOMIZATION_PATH!r}, image={WORKER!r}, tag=tags[done],
                author_name="Grace Hopper", author_email="grace@example.com", message="other deploy",
            )
            (state / f"pushed-{{done}}").touch()
        os.execvp("sh", ["sh", "-c", command])
        """)
    )
    ssh.chmod(0o755)
    return state


@pytest.fixture
def git_ssh_spec(tmp_path, git_remote, monkeypatch):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "gitops.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    key = tmp_path / "deploy key"
    key.write_text("not a real key\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'fakebin'}:{Path(sys.executable).parent}:/usr/bin:/bin")
    url = f"ssh://git@gitops.example{git_remote}"
    return RepoSpec(
        url=url,
        branch="main",
        workdir=workdir_for(tmp_path / "ssh-cache", url, "main"),
        ssh_key_file=key,
        known_hosts_file=known_hosts,
    )


def test_a_non_fast_forward_over_ssh_is_rebased(git_ssh_spec, git_remote, git_remote_file, tmp_path):
    state = make_fake_ssh(tmp_path, git_remote, race_tags=["8"])

    result = set_tag(git_ssh_spec)

    assert (result.how, result.attempts) == ("rebased", 2)
    text = git_remote_file(git_remote).decode()
    assert "    newTag: 1.5.0\n" in text and "    newTag: '8'\n" in text
    argv = (state / "argv.log").read_text()
    for option in (
        "'IdentitiesOnly=yes'",
        "'StrictHostKeyChecking=yes'",
        f"'UserKnownHostsFile={tmp_path / 'known_hosts'}'",
        f"'{tmp_path / 'deploy key'}'",
    ):
        assert option in argv


def test_a_git_command_that_hangs_is_killed_after_the_timeout(git_ssh_spec, git_remote, tmp_path):
    make_fake_ssh(tmp_path, git_remote, sleep=30)
    started = time.monotonic()

    with pytest.raises(GitOpsError, match="did not finish within 1 seconds") as caught:
        image_read(git_ssh_spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT, timeout=1)

    assert caught.value.step == "fetch"
    assert time.monotonic() - started < 10


def test_ssh_without_known_hosts_is_refused(git_ssh_spec, tmp_path):
    spec = RepoSpec(url="git@github.com:acme/gitops.git", branch="main", workdir=tmp_path / "w")

    with pytest.raises(CredentialsError, match="without a known_hosts file"):
        image_read(spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT)
    assert not (tmp_path / "w").exists()


def test_one_clone_cache_is_used_by_one_writer_at_a_time(git_spec):
    spec = git_spec()
    lock = Path(spec.workdir).parent / f"{Path(spec.workdir).name}.lock"
    lock.parent.mkdir(parents=True)
    done = threading.Event()
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: (set_tag(spec), done.set()))
        worker.start()
        time.sleep(0.5)
        assert not done.is_set()
        with pytest.raises(GitOpsError, match="held its clone") as caught:
            set_tag(spec, lock_timeout=0.2)
        assert caught.value.step == "lock"
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(30)
    assert done.is_set()


# --- failures leave the remote as it was ------------------------------------------


def test_an_unreachable_repository_names_the_url(tmp_path, git_spec, git_remote):
    missing = tmp_path / "nowhere.git"

    with pytest.raises(RepoUnreachable) as caught:
        set_tag(git_spec(missing))

    assert caught.value.step == "fetch"
    assert str(missing) in str(caught.value)
    assert "does not appear to be a git repository" in str(caught.value)
    assert set_tag(git_spec()).changed


def test_a_missing_branch_is_named(git_remote, git_spec):
    spec = git_spec()
    spec = RepoSpec(url=spec.url, branch="production", workdir=spec.workdir, allow_local=True)

    with pytest.raises(RepoUnreachable, match="Branch 'production' does not exist"):
        image_read(spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT)


def test_a_push_refused_by_the_remote_carries_its_reason(git_remote, git_spec, git_head):
    hook = git_remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is frozen until the release is out' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = git_head(git_remote)

    with pytest.raises(PushRejected) as caught:
        set_tag(git_spec())

    assert caught.value.step == "push"
    assert "main is frozen until the release is out" in str(caught.value)
    assert "pre-receive hook declined" in str(caught.value)
    assert git_head(git_remote) == before
    hook.unlink()
    assert set_tag(git_spec()).how == "direct"


@pytest.mark.parametrize(
    ("files", "error", "match"),
    [
        ({"other.yaml": "a: 1\n"}, KustomizationMissing, "no kustomization file at apps/payments"),
        (
            {GIT_KUSTOMIZATION_PATH: "images:\n  - name: [x\n"},
            InvalidYaml,
            "not valid YAML at line 3, column 1",
        ),
        ({GIT_KUSTOMIZATION_PATH: "kind: Kustomization\n"}, NoImagesList, "has no images: list"),
        (
            {GIT_KUSTOMIZATION_PATH: GIT_KUSTOMIZATION},
            ImageNotFound,
            "no images entry named ghcr.io/acme/nope; images present: "
            "ghcr.io/acme/checkout-api, ghcr.io/acme/worker, ghcr.io/acme/ledger",
        ),
    ],
    ids=["missing file", "invalid yaml", "no images", "unknown image"],
)
def test_bad_repository_content_is_explained_and_nothing_is_committed(
    files, error, match, git_make_remote, git_spec, git_head
):
    bare = git_make_remote(files)
    before = git_head(bare)

    with pytest.raises(error, match=match) as caught:
        set_tag(git_spec(bare), image="ghcr.io/acme/nope" if error is ImageNotFound else CHECKOUT)

    assert caught.value.step == "read"
    assert git_head(bare) == before


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "a:b", "a/b", "x" * 129, "tag with space"])
def test_an_invalid_tag_is_refused_before_anything_happens(tag, git_spec, git_remote, git_head):
    before = git_head(git_remote)

    with pytest.raises(InvalidTag) as caught:
        set_tag(git_spec(), tag=tag)

    assert caught.value.step == "edit"
    assert git_head(git_remote) == before


def test_tag_pattern():
    assert TAG_PATTERN.pattern == "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
    assert all(tag_valid(t) for t in ["v1.2.3", "1.10", "_x", "sha-abc_DEF.1", "a" * 128])
    assert not any(tag_valid(t) for t in ["", ".x", "a" * 129, "a+b", "ü"])


def test_a_broken_clone_cache_is_rebuilt(git_spec):
    spec = git_spec()
    Path(spec.workdir).mkdir(parents=True)
    (Path(spec.workdir) / "HEAD").write_text("garbage")

    assert set_tag(spec).changed


def test_workdir_for_is_one_directory_per_url_and_branch(tmp_path):
    a = workdir_for(tmp_path, "https://git.example/acme/gitops.git", "main")

    assert a == workdir_for(tmp_path, "https://git.example/acme/gitops.git", "main")
    assert a != workdir_for(tmp_path, "https://git.example/acme/gitops.git", "staging")
    assert a.parent == tmp_path and a.name.startswith("gitops-")


# --- tokens -------------------------------------------------------------------------

TOKEN = "ghp_s3cr3tT0kenValue1234567890"


def test_a_token_never_appears_in_errors(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = RepoSpec(
        url=f"https://127.0.0.1:{port}/acme/gitops.git",
        branch="main",
        workdir=tmp_path / "w",
        token_file=token_file,
    )

    with pytest.raises(RepoUnreachable) as caught:
        set_tag(spec)

    assert caught.value.step == "fetch"
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value.args)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for a test certificate")
def test_the_token_goes_in_a_header_not_the_url(tmp_path, monkeypatch):
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            tmp_path / "key.pem",
            "-out",
            tmp_path / "cert.pem",
        ],
        check=True,
        capture_output=True,
    )
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(403)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GIT_SSL_CAINFO", str(tmp_path / "cert.pem"))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    spec = RepoSpec(
        url=f"https://127.0.0.1:{server.server_port}/acme/gitops.git",
        branch="main",
        workdir=tmp_path / "w",
        token_file=token_file,
    )
    try:
        with pytest.raises(RepoUnreachable) as caught:
            set_tag(spec)
    finally:
        server.shutdown()

    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert seen and all(auth == f"Basic {basic}" for _, auth in seen)
    assert all(TOKEN not in path for path, _ in seen)
    assert TOKEN not in str(caught.value) and basic not in str(caught.value)


def test_plain_http_is_refused_so_a_token_is_never_sent_over_it(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    spec = RepoSpec(
        url="http://git.example/acme/gitops.git", branch="main", workdir=tmp_path / "w", token_file=token_file
    )

    with pytest.raises(RepositoryRefused, match="plain http"):
        set_tag(spec)
    assert not (tmp_path / "w").exists()


def test_a_password_in_the_url_is_refused(tmp_path):
    spec = RepoSpec(
        url=f"https://bot:{TOKEN}@git.example/acme/gitops.git", branch="main", workdir=tmp_path / "w"
    )

    with pytest.raises(RepositoryRefused, match="carries a password") as caught:
        set_tag(spec)

    assert TOKEN not in str(caught.value)


def test_the_token_header_is_built_from_the_file(tmp_path):
    from apps.environments.gitops.git import Git

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    spec = RepoSpec(
        url="https://git.example:8443/acme/gitops.git",
        branch="main",
        workdir=tmp_path / "w",
        token_file=token_file,
        token_username="oauth2",
    )

    env = Git(spec, 5).env

    assert env["GIT_CONFIG_KEY_0"] == "http.https://git.example:8443/.extraHeader"
    assert (
        env["GIT_CONFIG_VALUE_0"]
        == "Authorization: Basic " + base64.b64encode(f"oauth2:{TOKEN}".encode()).decode()
    )
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_CONFIG_NOSYSTEM"] == "1"
