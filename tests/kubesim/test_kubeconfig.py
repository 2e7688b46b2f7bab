import stat

import yaml
from kubernetes import client, config

from kubesim.kubeconfig import write_kubeconfig


def test_it_writes_one_cluster_user_and_current_context(tmp_path):
    path = write_kubeconfig(tmp_path / "kube" / "config", "http://127.0.0.1:6444", "secret")

    data = yaml.safe_load(path.read_text())
    assert data["current-context"] == "demo"
    assert data["clusters"] == [{"name": "demo", "cluster": {"server": "http://127.0.0.1:6444"}}]
    assert data["users"] == [{"name": "demo", "user": {"token": "secret"}}]
    assert data["contexts"] == [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_official_loader_reads_it(tmp_path):
    path = write_kubeconfig(tmp_path / "config", "http://127.0.0.1:6444", "secret", context="lab")

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)

    assert configuration.host == "http://127.0.0.1:6444"
    assert configuration.api_key["BearerToken"] == "Bearer secret"


def test_without_a_token_the_user_is_empty(tmp_path):
    path = write_kubeconfig(tmp_path / "config", "http://127.0.0.1:6444", None)

    assert yaml.safe_load(path.read_text())["users"] == [{"name": "demo", "user": {}}]
