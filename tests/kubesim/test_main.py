import signal
import subprocess
import sys
from pathlib import Path

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_serves_the_demo_and_exits_cleanly_on_sigterm(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubesim",
            "--port",
            "0",
            "--seed",
            "demo",
            "--evolve-every",
            "0.2",
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("kubesim listening on http://127.0.0.1:")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        with api:
            pods = client.CoreV1Api(api).list_namespaced_pod("payments").items
            assert api.configuration.host == line.split()[-1]
        assert pods
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)

    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
