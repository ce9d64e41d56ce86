"""The VS Code extension contributes every server setting, with the server's default."""

from __future__ import annotations

import json
from pathlib import Path

from reason_lsp.settings import schema

MANIFEST = Path(__file__).resolve().parents[2] / "vscode-extension" / "package.json"


def test_every_server_setting_is_in_the_extension_manifest_with_its_default() -> None:
    properties = json.loads(MANIFEST.read_text())["contributes"]["configuration"]["properties"]
    contributed = {k.removeprefix("reasonLsp."): v.get("default") for k, v in properties.items()}
    server = {key.removeprefix("reasonLsp."): default for key, _type, default, _doc in schema()}
    missing = sorted(set(server) - set(contributed))
    assert missing == [], "add these to vscode-extension/package.json and src/settings.ts"
    assert {k: contributed[k] for k in server} == server
