"""Kubeconfig files pointing at a simulator."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def kubeconfig(server: str, token: str | None, context: str = "demo") -> dict:
    """A kubeconfig with one cluster, one user and one context, made current."""
    user: dict = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }


def write_kubeconfig(path: str | Path, server: str, token: str | None, context: str = "demo") -> Path:
    """Write a kubeconfig to `path` (mode 0600, since it holds the token); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server, token, context), sort_keys=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path
