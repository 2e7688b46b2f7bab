from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.clusters.models import Cluster
from apps.clusters.services import cluster_declare


class Command(BaseCommand):
    help = "Declare a cluster, or update it when NAME exists."

    def add_arguments(self, parser):
        parser.add_argument("name")
        how = parser.add_mutually_exclusive_group(required=True)
        how.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file on this server")
        how.add_argument("--in-cluster", action="store_true", help="the pod's service account")
        how.add_argument("--eks-cluster", metavar="EKS_NAME", help="EKS cluster name")
        parser.add_argument("--context", default="", help="kubeconfig context")
        parser.add_argument("--region", default="", help="AWS region (with --eks-cluster)")
        parser.add_argument("--stage", default="staging", choices=Cluster.Stage.values)

    def handle(self, *args, name, kubeconfig, in_cluster, eks_cluster, context, region, stage, **opts):
        if eks_cluster and not region:
            raise CommandError("--eks-cluster needs --region")
        if context and not kubeconfig:
            raise CommandError("--context only applies with --kubeconfig")
        if kubeconfig:
            path = Path(kubeconfig).resolve()
            if not path.is_file():
                self.stderr.write(f"warning: {path} does not exist yet; the sync will fail until it does")
            connection, kubeconfig = Cluster.Connection.KUBECONFIG, str(path)
        elif in_cluster:
            connection = Cluster.Connection.IN_CLUSTER
        else:
            connection = Cluster.Connection.EKS
        try:
            cluster, created = cluster_declare(
                name=name, connection=connection, stage=stage, kubeconfig_path=kubeconfig or "",
                context=context, eks_cluster_name=eks_cluster or "", eks_region=region,
            )  # fmt: skip
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"{'created' if created else 'updated'} cluster {cluster.name} ({cluster.stage})")
