"""config.js stays byte for byte what it was for a broad set of env combinations.

``config_js_outputs.json`` was rendered by ``build_config_js`` before it became a table of rows, one case
per branch of the templates (each feature on and off, JaaS, tenants, odd values); any change to the
generated text, however harmless it looks, shows here as a diff against what browsers were served.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jitsi_py.web.config_js import build_config_js

from .conftest import settings_for

CASES = json.loads((Path(__file__).with_name("config_js_outputs.json")).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_js_is_unchanged(tmp_path, name):
    case = CASES[name]
    config_js = build_config_js(settings_for(tmp_path, **case["env"]), case["custom"])
    for tenant, expected in case["rendered"].items():
        assert config_js.render(tenant) == expected, (name, tenant)
