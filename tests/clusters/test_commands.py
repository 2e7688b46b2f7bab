from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.clusters.models import Cluster, SyncRun, WarningEvent
from apps.clusters.sync import sync_runs_prune

pytestmark = pytest.mark.django_db


def add(*args):
    out, err = StringIO(), StringIO()
    call_command("add_cluster", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_add_cluster_creates_then_updates(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    out, _ = add("prod", "--kubeconfig", str(kubeconfig), "--context", "eks-prod", "--stage", "production")
    assert "created cluster prod (production)" in out
    out, _ = add("prod", "--eks-cluster", "prod-eks", "--region", "ap-northeast-1", "--stage", "production")
    assert "updated cluster prod" in out
    cluster = Cluster.objects.get(name="prod")
    assert (cluster.connection, cluster.eks_cluster_name, cluster.eks_region) == (
        "eks",
        "prod-eks",
        "ap-northeast-1",
    )
    assert Cluster.objects.count() == 1


def test_add_cluster_stores_the_path_never_the_contents(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("users:\n- user:\n    token: super-secret-token\n")
    add("dev", "--kubeconfig", str(kubeconfig))
    cluster = Cluster.objects.get(name="dev")
    assert cluster.kubeconfig_path == str(kubeconfig.resolve())
    assert "super-secret-token" not in str(Cluster.objects.filter(name="dev").values().first())


def test_add_cluster_rejects_bad_input():
    with pytest.raises(CommandError, match="needs --region"):
        add("x", "--eks-cluster", "e")
    with pytest.raises(CommandError, match="only applies with --kubeconfig"):
        add("x", "--in-cluster", "--context", "c")
    with pytest.raises(CommandError):
        add("Not A Slug", "--in-cluster")


def test_old_sync_runs_and_events_are_pruned(cluster):
    old = timezone.now() - timedelta(days=30)
    SyncRun.objects.create(cluster=cluster, status="ok", started_at=old)
    recent = SyncRun.objects.create(cluster=cluster, status="ok")
    running = SyncRun.objects.create(cluster=cluster, status="running", started_at=old)
    WarningEvent.objects.create(
        cluster=cluster, namespace="a", name="e", uid="u", resource_version="1", last_seen=old
    )
    assert sync_runs_prune(days=14) == 1
    assert set(SyncRun.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not WarningEvent.objects.exists()
