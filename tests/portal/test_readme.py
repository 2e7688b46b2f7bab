"""README.md stays true: every environment variable the settings read is in its Configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from tests.portal.test_deploy_manifests import readme_settings

ROOT = Path(__file__).resolve().parents[2]


def settings_variables() -> set[str]:
    source = (ROOT / "portal" / "settings.py").read_text()
    names = set(re.findall(r"env_(?:str|int|bool|list|url|group_map)\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    assert {"SECRET_KEY", "SHIRUBE_SYNC_INTERVAL", "SHIRUBE_GIT_SSH_KEY_FILE"} <= names, names
    return names


def test_every_setting_is_documented_in_the_readme():
    missing = settings_variables() - readme_settings()
    assert not missing, f"add these to README.md's Configuration table: {sorted(missing)}"
