"""Strict parsers for settings read from the environment.

Every setting comes from an environment variable. A malformed value raises
ImproperlyConfigured at start-up instead of being silently replaced by a
default. ``<NAME>_FILE`` reads a secret from a mounted file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, environ=os.environ) -> str:
    """The value of NAME, or of the file named by NAME_FILE, or the default."""
    file_var = f"{name}_FILE"
    if name in environ and file_var in environ:
        raise ImproperlyConfigured(f"Set {name} or {file_var}, not both.")
    if file_var in environ:
        path = Path(environ[file_var])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{file_var}: cannot read {path}: {exc.strerror}") from exc
    if name in environ:
        return environ[name]
    if default is None:
        raise ImproperlyConfigured(f"{name} must be set.")
    return default


def env_bool(name: str, default: bool, *, environ=os.environ) -> bool:
    raw = env_str(name, "true" if default else "false", environ=environ).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false).")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None, environ=os.environ
) -> int:
    raw = env_str(name, str(default), environ=environ).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} must be at most {maximum}.")
    return value


def env_list(name: str, default: str, *, environ=os.environ) -> list[str]:
    raw = env_str(name, default, environ=environ)
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(url: str, *, base_dir: Path) -> dict:
    """Django DATABASES entry for a sqlite:/// or postgres:// URL."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        raw_path = unquote(parts.path)
        if not raw_path or raw_path == "/":
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no SQLite file.")
        path = Path(raw_path[1:]) if raw_path.startswith("/") else Path(raw_path)
        if not path.is_absolute():
            path = base_dir / path
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            "OPTIONS": {
                # Web, worker and beat share the file: take the write lock at
                # BEGIN, wait for it instead of failing, and use WAL so that
                # readers never block the writer.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                ),
            },
        }
    if parts.scheme in {"postgres", "postgresql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no database.")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        host = unquote(parts.hostname or "") if parts.hostname else query.pop("host", "")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} has a bad port.") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": host,
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": query,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported (use sqlite:/// or postgres://)."
    )


GROUP_MAP_ROLES = ("member", "lead")
_TEAM_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?")  # as apps.accounts.models.SLUG_VALIDATOR


def env_group_map(name: str, *, environ=os.environ) -> list[tuple[str, str, str]]:
    """Identity-provider groups and what they grant: `group=team:member`, `group=team:lead` or `group=sre`.

    Entries are separated by newlines or `;` (group names may hold commas: LDAP DNs do).
    The group is everything before the last `=`. Returns (group, role, team slug or "").
    """
    entries = []
    raw = env_str(name, "", environ=environ)
    for number, entry in enumerate(raw.replace(";", "\n").splitlines(), start=1):
        entry = entry.strip()
        if not entry:
            continue
        group, sep, grant = (part.strip() for part in entry.rpartition("="))
        if not sep or not group or not grant:
            raise ImproperlyConfigured(
                f"{name}: entry {number} ({entry!r}) is not group=team:role or group=sre."
            )
        if grant == "sre":
            entries.append((group, "sre", ""))
            continue
        team, colon, role = grant.partition(":")
        if not colon or role not in GROUP_MAP_ROLES or not _TEAM_SLUG.fullmatch(team):
            raise ImproperlyConfigured(
                f"{name}: entry {number} ({entry!r}) must grant team:member, team:lead or sre."
            )
        entries.append((group, role, team))
    return entries


def env_url(name: str, default: str = "", *, environ=os.environ) -> str:
    """An https:// URL (http:// only on the loopback interface, for tests and local providers), or ''."""
    raw = env_str(name, default, environ=environ).strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ImproperlyConfigured(f"{name}={raw!r} must be an https:// URL (http:// only on loopback).")
    if not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a plain URL (a host, no query or fragment).")
    return raw
