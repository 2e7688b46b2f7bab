"""An environment's repository URL and branch can never make the worker run a command (issue 11, High #1).

The attack: an environment whose repo_url is `--upload-pack=<command>` makes
git run that command on the worker (which holds the deploy key, the
kubeconfigs and Flux patch rights) at the next periodic refresh. Each hostile
value is refused by the model and the admin, and again by the GitOps writer
at the point of use, so a row written before the fix (or by a migration)
cannot run anything either: real git, and a marker file the command would
create.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from apps.environments import runner, tasks
from apps.environments.gitops import (
    GitOpsError,
    RepositoryRefused,
    RepoSpec,
    branch_problem,
    head_sha,
    image_read,
    image_set_tag,
    repo_url_problem,
    workdir_for,
)
from apps.environments.gitops.git import Git
from apps.environments.models import Deployment, Environment
from tests.environments.conftest import GIT_KUSTOMIZATION_PATH

pytestmark = pytest.mark.django_db

CHECKOUT = "ghcr.io/acme/checkout-api"

# {marker} is a file the command would create; {bare} a real local repository.
HOSTILE_URLS = {
    "upload-pack option": "--upload-pack=touch${{IFS}}{marker}",
    "upload-pack option with a space": "--upload-pack=touch {marker}",
    "short option": "-utouch${{IFS}}{marker}",
    "ext transport": "ext::sh -c touch% {marker}",
    "ext transport, scp-like": "ext::sh${{IFS}}-c${{IFS}}touch${{IFS}}{marker}",
    "file URL (local repositories not allowed)": "file://{bare}",
    "local path (local repositories not allowed)": "{bare}",
    "plain http": "http://git.example/acme/gitops.git",
    "git protocol": "git://git.example/acme/gitops.git",
    "newline then an option": "https://git.example/acme/gitops.git\n--upload-pack=touch${{IFS}}{marker}",
    "control character": "https://git.example/acme/\x1bgitops.git",
    "ssh host that is an option": "ssh://-oProxyCommand=touch${{IFS}}{marker}/acme/gitops.git",
    "scp-like host that is an option": "-oProxyCommand=touch${{IFS}}{marker}:acme/gitops.git",
    "scp-like path that is an option": "git@git.example:--upload-pack=touch${{IFS}}{marker}",
    "empty": "",
}
HOSTILE_BRANCHES = [
    "--foo",
    "-b",
    "a..b",
    "@{-1}",
    "main lock",
    "main\n",
    "a~1",
    "a:b",
    "",
    "x.lock",
    "/main",
]
SAFE_URLS = [
    "https://git.example/acme/gitops.git",
    "https://git.example:8443/acme/gitops",
    "https://bot@git.example/acme/gitops.git",
    "ssh://git@git.example/acme/gitops.git",
    "ssh://git@git.example:2222/acme/gitops.git",
    "git@github.com:acme/gitops.git",
]


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def hostile(marker, git_remote):
    """The hostile URL for a case, with the marker path and a real local repository filled in."""
    return lambda case: HOSTILE_URLS[case].format(marker=marker, bare=git_remote)


@pytest.fixture
def local_refused(settings):
    settings.SHIRUBE_GIT_ALLOW_LOCAL = False


def spec_for(tmp_path, url: str, branch: str = "main", **kwargs) -> RepoSpec:
    return RepoSpec(url=url, branch=branch, workdir=workdir_for(tmp_path / "cache", url, branch), **kwargs)


def assert_nothing_ran(marker: Path, tmp_path: Path) -> None:
    assert not marker.exists(), "git ran the command in the URL"
    assert not (tmp_path / "cache").exists(), "the writer touched the disk before refusing"


# --- the model and the admin ---------------------------------------------------------


def environment(envs, **fields) -> Environment:
    staging = envs["staging"]
    values = {
        "team": staging.team, "app": "ledger", "stage": "staging", "cluster": staging.cluster,
        "namespace": "payments-staging", "kustomization": "flux-system/ledger", "repo_url": SAFE_URLS[0],
        "branch": "main", "kustomization_path": "apps/ledger/kustomization.yaml", "image": "ghcr.io/acme/ledger",
        **fields,
    }  # fmt: skip
    return Environment(**values)


@pytest.mark.parametrize("case", HOSTILE_URLS)
def test_the_model_refuses_a_hostile_repository_url(case, hostile, envs, local_refused):
    with pytest.raises(ValidationError) as caught:
        environment(envs, repo_url=hostile(case)).full_clean()

    assert "repo_url" in caught.value.message_dict


@pytest.mark.parametrize("branch", HOSTILE_BRANCHES)
def test_the_model_refuses_a_branch_git_would_not_take_as_a_branch_name(branch, envs):
    with pytest.raises(ValidationError) as caught:
        environment(envs, branch=branch).full_clean()

    assert "branch" in caught.value.message_dict


@pytest.mark.parametrize("url", SAFE_URLS)
def test_the_model_accepts_https_ssh_and_scp_like_urls(url, envs, local_refused):
    environment(envs, repo_url=url, branch="release/2024-06").full_clean()


def test_local_repositories_only_where_the_setting_allows_them(envs, git_remote, settings):
    settings.SHIRUBE_GIT_ALLOW_LOCAL = True
    for url in (str(git_remote), f"file://{git_remote}"):
        environment(envs, repo_url=url).full_clean()
    # Even then, only absolute paths: a relative one would depend on the worker's directory.
    with pytest.raises(ValidationError):
        environment(envs, repo_url="gitops.git").full_clean()


def admin_post(client, envs, **fields):
    # A superuser: editing environments is not yet the SRE group's (a later issue gives them that).
    staging = envs["staging"]
    data = {
        "team": staging.team_id, "app": "ledger", "stage": "staging", "cluster": staging.cluster_id,
        "namespace": "payments-staging", "kustomization": "flux-system/ledger", "repo_url": SAFE_URLS[0],
        "branch": "main", "kustomization_path": "apps/ledger/kustomization.yaml", "image": "ghcr.io/acme/ledger",
        "required_role": "member", **fields,
    }  # fmt: skip
    return client.post("/admin/environments/environment/add/", data)


@pytest.mark.parametrize("case", HOSTILE_URLS)
def test_the_admin_refuses_a_hostile_repository_url(
    case, hostile, envs, client_for, admin_user, local_refused
):
    url = hostile(case)

    response = admin_post(client_for(admin_user), envs, repo_url=url)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get("repo_url"), response.context[
        "adminform"
    ].form.errors
    assert not Environment.objects.filter(app="ledger").exists()


@pytest.mark.parametrize("branch", ["--foo", "a..b", "@{-1}"])
def test_the_admin_refuses_a_hostile_branch(branch, envs, client_for, admin_user):
    response = admin_post(client_for(admin_user), envs, branch=branch)

    assert response.status_code == 200
    assert "is not a valid branch name" in " ".join(response.context["adminform"].form.errors["branch"])
    assert not Environment.objects.filter(app="ledger").exists()


def test_the_admin_saves_a_safe_environment(envs, client_for, admin_user):
    response = admin_post(client_for(admin_user), envs, repo_url="git@github.com:acme/gitops.git")

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Environment.objects.get(app="ledger").repo_url == "git@github.com:acme/gitops.git"


# --- the writer, at the point of use ---------------------------------------------------


@pytest.mark.parametrize("case", HOSTILE_URLS)
def test_the_writer_refuses_a_hostile_url_before_running_git(case, hostile, marker, tmp_path, git_head,
                                                             git_remote):  # fmt: skip
    url = hostile(case)
    before = git_head(git_remote)
    # Credentials configured as in production, so no credential check stops it first.
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "git.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    spec = spec_for(tmp_path, url, known_hosts_file=known_hosts)

    for call in (
        lambda: head_sha(spec),
        lambda: image_read(spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT),
        lambda: image_set_tag(spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT, tag="1.5.0",
                              author_name="Ada", author_email="ada@example.com", message="Deploy"),
    ):  # fmt: skip
        with pytest.raises(RepositoryRefused) as caught:
            call()
        assert caught.value.step == "config"
        assert "refused" in str(caught.value)

    assert_nothing_ran(marker, tmp_path)
    assert git_head(git_remote) == before


@pytest.mark.parametrize("branch", HOSTILE_BRANCHES)
def test_the_writer_refuses_a_hostile_branch(branch, git_remote, tmp_path, marker):
    spec = spec_for(tmp_path, str(git_remote), branch=branch, allow_local=True)

    with pytest.raises(RepositoryRefused, match="branch"):
        image_read(spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT)
    with pytest.raises(RepositoryRefused, match="branch"):
        head_sha(spec)

    assert_nothing_ran(marker, tmp_path)


def test_the_writer_uses_a_local_repository_only_when_allowed(git_remote, tmp_path, marker):
    with pytest.raises(RepositoryRefused, match="SHIRUBE_GIT_ALLOW_LOCAL"):
        image_read(spec_for(tmp_path, str(git_remote)), path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT)
    assert_nothing_ran(marker, tmp_path)

    entry = image_read(spec_for(tmp_path, str(git_remote), allow_local=True), path=GIT_KUSTOMIZATION_PATH,
                       image=CHECKOUT)  # fmt: skip
    assert entry.new_tag == "1.4.2"


def test_git_itself_refuses_transports_that_are_not_allowed(git_remote, tmp_path, marker):
    """Behind the URL check: `protocol.allow=never` with only https and ssh (and file when allowed)."""
    git = Git(spec_for(tmp_path, "https://git.example/acme/gitops.git"), 10)

    for url in (f"ext::sh -c touch% {marker}", str(git_remote), f"file://{git_remote}"):
        out = git.run(["ls-remote", "--end-of-options", url], step="fetch", git_dir=False)
        assert out.code != 0 and "not allowed" in out.stderr, (url, out.stderr)
    assert not marker.exists()

    local = Git(spec_for(tmp_path, str(git_remote), allow_local=True), 10)
    assert (
        local.run(["ls-remote", "--end-of-options", str(git_remote)], step="fetch", git_dir=False).code == 0
    )


@pytest.fixture
def git_log(tmp_path, monkeypatch):
    """A `git` first on PATH that records its argv, then runs the real git."""
    bin_dir = tmp_path / "logbin"
    bin_dir.mkdir()
    log = tmp_path / "git-argv.log"
    real_git = "/usr/bin/git"
    shim = bin_dir / "git"
    shim.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys
        with open({str(log)!r}, "a") as f:
            f.write(json.dumps(sys.argv[1:]) + "\\n")
        os.execv({real_git!r}, [{real_git!r}, *sys.argv[1:]])
        """)
    )
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


def test_every_git_call_ends_its_options_before_urls_refs_and_paths(git_remote, tmp_path, git_log):
    spec = spec_for(tmp_path, str(git_remote), allow_local=True)

    head_sha(spec)
    image_set_tag(spec, path=GIT_KUSTOMIZATION_PATH, image=CHECKOUT, tag="1.5.0", author_name="Ada",
                  author_email="ada@example.com", message="Deploy")  # fmt: skip

    calls = git_log()
    commands = set()
    for argv in calls:
        command = next(arg for i, arg in enumerate(argv) if not arg.startswith("-") and argv[i - 1] != "-c")
        commands.add(command)
        if command == "check-ref-format":
            continue  # no transport, no repository: only the name is checked
        # Transports: everything off, then https and ssh (and file, allowed here) back on.
        config = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-c"]
        assert config[:4] == [
            "protocol.allow=never", "protocol.https.allow=always", "protocol.ssh.allow=always",
            "protocol.file.allow=always",
        ], argv  # fmt: skip
        rest = argv[argv.index(command) + 1 :]
        if command == "update-index":
            continue  # the path is inside the --cacheinfo value, never an argument of its own
        mentions = [
            arg for arg in rest if str(git_remote) in arg or "refs/" in arg or GIT_KUSTOMIZATION_PATH in arg
        ]
        for arg in mentions:
            assert "--end-of-options" in rest[: rest.index(arg)], argv
        if GIT_KUSTOMIZATION_PATH in rest:
            assert rest[rest.index(GIT_KUSTOMIZATION_PATH) - 1] == "--", argv
    assert {"ls-remote", "fetch", "ls-tree", "push"} <= commands, commands


# --- the tasks: a row written before the fix ------------------------------------------------


def legacy_row(environment: Environment, **fields) -> Environment:
    """Write values the way a row from before the fix (or a migration) holds them: no validation."""
    Environment.objects.filter(pk=environment.pk).update(**fields)
    environment.refresh_from_db()
    return environment


@pytest.mark.parametrize("case", HOSTILE_URLS)
def test_the_periodic_refresh_refuses_a_hostile_row(case, hostile, envs, marker, settings, tmp_path,
                                                    local_refused):  # fmt: skip
    settings.SHIRUBE_GITOPS_WORKDIR = tmp_path / "cache"
    staging = legacy_row(envs["staging"], repo_url=hostile(case))

    assert tasks.environment_refresh.run(staging.pk) == "error"

    staging.refresh_from_db()
    assert "refused" in staging.git_error
    assert staging.git_tag == "v2.15.0", "what git said before is kept"
    assert_nothing_ran(marker, tmp_path)


@pytest.mark.parametrize("branch", ["--upload-pack=touch${IFS}x", "a..b"])
def test_the_periodic_refresh_refuses_a_hostile_branch(branch, envs, git_remote, settings, tmp_path, marker):
    settings.SHIRUBE_GITOPS_WORKDIR = tmp_path / "cache"
    staging = legacy_row(envs["staging"], repo_url=str(git_remote), branch=branch)

    assert tasks.environment_refresh.run(staging.pk) == "error"

    staging.refresh_from_db()
    assert "branch" in staging.git_error and "refused" in staging.git_error
    assert_nothing_ran(marker, tmp_path)


def test_a_deployment_to_a_hostile_row_fails_without_running_anything(
    envs, people, marker, settings, tmp_path
):
    settings.SHIRUBE_GITOPS_WORKDIR = tmp_path / "cache"
    staging = legacy_row(envs["staging"], repo_url=f"--upload-pack=touch${{IFS}}{marker}")
    deployment = Deployment.objects.create(
        environment=staging, kind="deploy", tag="v2.16.0", requested_by=people["member"], idempotency_key="k"
    )

    assert runner.deployment_advance(deployment_id=deployment.pk) is None

    deployment.refresh_from_db()
    assert (deployment.status, deployment.failed_step) == ("failed", "config")
    assert "refused" in deployment.message
    assert_nothing_ran(marker, tmp_path)


# --- the checks themselves --------------------------------------------------------------


def test_the_messages_say_what_is_wrong():
    assert "starts with '-'" in repo_url_problem("--upload-pack=x", allow_local=True)
    assert "https://, ssh://" in repo_url_problem("git://git.example/x.git", allow_local=False)
    assert "SHIRUBE_GIT_ALLOW_LOCAL" in repo_url_problem("/srv/gitops.git", allow_local=False)
    assert "whitespace or control" in repo_url_problem("https://git.example/a b", allow_local=False)
    assert repo_url_problem("https://bot:s3cret@git.example/x.git", allow_local=False).count("s3cret") == 0
    assert "not a valid branch name" in branch_problem("a..b")
    assert branch_problem("release/2024-06") is None
    assert issubclass(RepositoryRefused, GitOpsError)
