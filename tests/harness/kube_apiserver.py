"""A real kube-apiserver backed by a real etcd, for tests, on loopback only.

Both binaries are built from source by scripts/build-kube-servers.sh into
${SHIRUBE_KUBE_CACHE:-/var/cache/shirube-kube}/bin/ (see docs/kube-apiserver.md).
The API server is started the way controller-runtime's envtest starts it, with an
admin bearer token (group system:masters) from a token file. No controller-manager
or scheduler runs: nothing creates default service accounts, schedules pods, writes
statuses or finishes namespace deletion; tests write `.status` themselves.

    with RealKubeAPIServer() as kube:
        api = kubernetes.client.CoreV1Api(kube.api_client())
        ...
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tests.harness.servers import ServerError, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / "tools"
DEFAULT_CACHE = "/var/cache/shirube-kube"
BUILD_HINT = "run scripts/build-kube-servers.sh"


class KubeBinariesMissing(ServerError):
    """The binaries are not built (or not for the pinned versions)."""


def _pinned_version(go_mod: Path, module: str) -> str:
    text = go_mod.read_text()
    match = re.search(rf"^(?:require\s+|\s+){re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise ServerError(f"{module} is not required in {go_mod}")
    return match.group(1)


def pinned_versions() -> tuple[str, str]:
    """(kube-apiserver version, etcd version) as pinned in tools/*/go.mod."""
    return (
        _pinned_version(TOOLS / "kube-apiserver" / "go.mod", "k8s.io/kubernetes"),
        _pinned_version(TOOLS / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3"),
    )


def cache_dir() -> Path:
    return Path(os.environ.get("SHIRUBE_KUBE_CACHE") or DEFAULT_CACHE)


def find_binaries() -> tuple[Path, Path]:
    """Paths of (kube-apiserver, etcd) for the pinned versions; KubeBinariesMissing if absent.

    SHIRUBE_KUBE_APISERVER_BIN and SHIRUBE_ETCD_BIN override the cache lookup.
    """
    kube_version, etcd_version = pinned_versions()
    kube = Path(
        os.environ.get("SHIRUBE_KUBE_APISERVER_BIN") or cache_dir() / "bin" / f"kube-apiserver-{kube_version}"
    )
    etcd = Path(os.environ.get("SHIRUBE_ETCD_BIN") or cache_dir() / "bin" / f"etcd-{etcd_version}")
    missing = [str(p) for p in (kube, etcd) if not (p.is_file() and os.access(p, os.X_OK))]
    if missing:
        raise KubeBinariesMissing(
            f"kube-apiserver {kube_version} / etcd {etcd_version} not built "
            f"(missing {', '.join(missing)}): {BUILD_HINT}"
        )
    return kube, etcd


def default_flux_crds_dir() -> Path | None:
    """The Flux CRDs shared next to the repository (never copied into it)."""
    candidates = [os.environ.get("SHIRUBE_FLUX_CRDS"), REPO_ROOT.parent / "shared" / "flux-crds"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def _die_with_parent() -> None:
    # Linux: the child is killed if the test process dies without calling stop(). SIGKILL,
    # because kube-apiserver never finishes a graceful shutdown once etcd is gone.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _has_default_route() -> bool:
    """kube-apiserver advertises the address of the default-route interface."""
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return True  # not Linux or unreadable: let kube-apiserver decide
    return any(line.split()[1] == "00000000" for line in lines if len(line.split()) > 1)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _generate_rsa_key_pair(private: Path, public: Path) -> None:
    """The service-account signing key pair: `cryptography` if installed, else openssl."""
    if importlib.util.find_spec("cryptography") is None:
        _generate_rsa_key_pair_openssl(private, public)
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _generate_rsa_key_pair_openssl(private: Path, public: Path) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        raise ServerError("need the cryptography package or the openssl command for the SA key")
    for args in (
        [openssl, "genrsa", "-out", str(private), "2048"],
        [openssl, "rsa", "-in", str(private), "-pubout", "-out", str(public)],
    ):
        result = subprocess.run(args, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServerError(f"{' '.join(args[:2])} failed: {result.stderr}")


class RealKubeAPIServer:
    """etcd + kube-apiserver in a throwaway folder; `start()`/`stop()` or a context manager."""

    def __init__(self, *, start_timeout: float = 180.0, extra_args: list[str] | None = None):
        self.kube_bin, self.etcd_bin = find_binaries()
        self.kube_version, self.etcd_version = pinned_versions()
        self.start_timeout = start_timeout
        self.extra_args = list(extra_args or [])
        self.root: Path | None = None
        self.etcd_proc: subprocess.Popen | None = None
        self.kube_proc: subprocess.Popen | None = None
        self.token = secrets.token_hex(24)
        self.port = 0
        self.etcd_port = 0
        self.timings: dict[str, float] = {}
        self.flux_crds: list[str] = []  # names installed by the real_kube fixture

    # -- paths ---------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def cert_dir(self) -> Path:
        return self.root / "certs"

    @property
    def ca_file(self) -> Path:
        """The self-signed serving certificate (with its CA) kube-apiserver generated."""
        return self.cert_dir / "apiserver.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def etcd_log(self) -> Path:
        return self.root / "etcd.log"

    @property
    def kube_log(self) -> Path:
        return self.root / "kube-apiserver.log"

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> RealKubeAPIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> RealKubeAPIServer:
        self.root = Path(tempfile.mkdtemp(prefix="shirube-kube-"))
        began = time.monotonic()
        try:
            self._start_etcd()
            self.timings["etcd"] = time.monotonic() - began
            kube_began = time.monotonic()
            self._start_kube_apiserver()
            self.timings["kube-apiserver"] = time.monotonic() - kube_began
            self.timings["total"] = time.monotonic() - began
            self._write_kubeconfig()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in (self.kube_proc, self.etcd_proc):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.kube_proc = self.etcd_proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                preexec_fn=_die_with_parent,
            )

    def _failure(self, what: str) -> ServerError:
        return ServerError(
            f"{what}\n--- etcd log (tail) ---\n{_tail(self.etcd_log)}"
            f"\n--- kube-apiserver log (tail) ---\n{_tail(self.kube_log)}"
        )

    def _start_etcd(self) -> None:
        self.etcd_port, peer_port = free_port(), free_port()
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self.etcd_proc = self._spawn(
            [
                str(self.etcd_bin),
                "--name=shirube-test",
                f"--data-dir={self.root / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=shirube-test={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            self.etcd_log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.etcd_proc.poll() is not None:
                raise self._failure(f"etcd exited with code {self.etcd_proc.returncode}")
            with (
                contextlib.suppress(OSError, ValueError),
                urllib.request.urlopen(f"{client_url}/health", timeout=2) as response,
            ):
                if json.load(response).get("health") == "true":
                    return
            time.sleep(0.1)
        raise self._failure(f"etcd did not report healthy on {client_url} within 60 s")

    def restart_kube_apiserver(self, *, down_seconds: float = 0.0) -> None:
        """Stop kube-apiserver (etcd keeps running) and start it again on the same port and
        certificate, as a control-plane upgrade would: clients keep their kubeconfig."""
        self.kube_proc.terminate()
        try:
            self.kube_proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kube_proc.kill()
            self.kube_proc.wait(5)
        time.sleep(down_seconds)
        self._start_kube_apiserver()

    def _start_kube_apiserver(self) -> None:
        self.port = self.port or free_port()  # a restart keeps the port (and the kubeconfig)
        self.cert_dir.mkdir(exist_ok=True)
        sa_key, sa_pub = self.root / "sa.key", self.root / "sa.pub"
        _generate_rsa_key_pair(sa_key, sa_pub)
        tokens = self.root / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)
        self.kube_proc = self._spawn(
            [
                str(self.kube_bin),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                f"--cert-dir={self.cert_dir}",
                f"--secure-port={self.port}",
                "--bind-address=127.0.0.1",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.server}/",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                f"--token-auth-file={tokens}",
                *self._advertise_args(),
                *self.extra_args,
            ],
            self.kube_log,
        )
        deadline = time.monotonic() + self.start_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.kube_proc.poll() is not None:
                raise self._failure(f"kube-apiserver exited with code {self.kube_proc.returncode}")
            if self.ca_file.exists():
                try:
                    status, body = self._get("/readyz")
                    if status == 200 and body.strip() == "ok":
                        return
                    last = f"HTTP {status}: {body[-500:]}"
                except (OSError, ssl.SSLError) as error:
                    last = str(error)
            time.sleep(0.2)
        with contextlib.suppress(OSError, ssl.SSLError):
            last = self._get("/readyz?verbose")[1][-2000:]
        raise self._failure(
            f"kube-apiserver was not ready on {self.server} within {self.start_timeout:.0f} s: {last}"
        )

    def _advertise_args(self) -> list[str]:
        # By default kube-apiserver advertises the host's default-route address (and keeps the
        # `kubernetes` Service endpoints pointing at it). Without such an interface it would
        # refuse to start, and 127.0.0.1 is only accepted with the endpoint reconciler off.
        if _has_default_route() or any(a.startswith("--advertise-address") for a in self.extra_args):
            return []
        return ["--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"]

    def _get(self, path: str) -> tuple[int, str]:
        """GET as admin over HTTPS, verifying the server against its generated certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "real-kube",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "real-kube", "context": {"cluster": "real-kube", "user": "admin"}}],
            "current-context": "real-kube",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    # -- clients -------------------------------------------------------------------
    def api_client(self, *, impersonate: str | None = None):
        """A kubernetes.client.ApiClient from the kubeconfig (admin), optionally impersonating.

        `impersonate="system:serviceaccount:<ns>:<name>"` sends Impersonate-User, so every
        request is authorised as that identity. For a service account the server adds its
        groups (system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated)
        itself when no Impersonate-Group header is sent.
        """
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        api = client.ApiClient(configuration)
        if impersonate:
            api.set_default_header("Impersonate-User", impersonate)
        return api

    # -- CRDs ----------------------------------------------------------------------
    def install_crds(self, folder: Path | str, *, timeout: float = 60.0) -> list[str]:
        """Create every CRD in the *.yaml files of `folder`; wait until each is Established.

        Returns the CRD names. Goes through the official client's CustomObjectsApi
        (apiextensions.k8s.io/v1 customresourcedefinitions as plain dicts), so the typed
        models cannot trip over fields of real-world CRDs.
        """
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        crds = client.CustomObjectsApi(self.api_client())
        where = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        names: list[str] = []
        for file in sorted(Path(folder).glob("*.y*ml")):
            for document in yaml.safe_load_all(file.read_text()):
                if not document or document.get("kind") != "CustomResourceDefinition":
                    continue
                try:
                    crds.create_cluster_custom_object(*where, document)
                except ApiException as error:
                    if error.status != 409:  # 409: already there (a second install)
                        raise ServerError(
                            f"creating CRD from {file.name}: {error.status} {error.body}"
                        ) from error
                names.append(document["metadata"]["name"])
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                crd = crds.get_cluster_custom_object(*where, name)
                conditions = (crd.get("status") or {}).get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                    pending.discard(name)
            if pending:
                time.sleep(0.2)
        if pending:
            raise ServerError(f"CRDs not Established within {timeout:.0f} s: {sorted(pending)}")
        return names
