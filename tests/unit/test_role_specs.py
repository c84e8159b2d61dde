# -*- coding: utf-8 -*-
"""One schema for a definition: settings.py declares it; the role's argument spec and the module's follow."""

from __future__ import annotations

import importlib.util
import os

import yaml

from ansible_collections.dar.backup.plugins.module_utils import settings
from ansible_collections.dar.backup.plugins.modules import dar_backup

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _role_specs_script():
    spec = importlib.util.spec_from_file_location("role_specs", os.path.join(REPO, "scripts", "role_specs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _role_definition_options():
    with open(os.path.join(REPO, "roles", "configure", "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        specs = yaml.safe_load(handle)
    return specs["argument_specs"]["main"]["options"]["dar_backup_definitions"]["options"]


def test_role_argument_spec_is_what_the_script_derives():
    script = _role_specs_script()
    with open(script.SPEC_FILE, encoding="utf-8") as handle:
        assert handle.read() == script.render(), "run python3 scripts/role_specs.py and commit the result"


def test_role_definition_keys_are_the_engine_keys():
    role = _role_definition_options()
    assert set(role) == set(settings.DEFINITION_OPTIONS) - {"definition_file"} | {"name", "schedule"}
    for key, item in settings.DEFINITION_OPTIONS.items():
        if key == "definition_file":
            continue
        assert role[key]["type"] == item["type"], key
        if item.get("choices"):
            assert role[key]["choices"] == list(item["choices"]), key
        if item.get("options"):
            assert set(role[key]["options"]) == set(item["options"]), key
            for sub, sub_item in item["options"].items():
                assert role[key]["options"][sub]["type"] == sub_item["type"], (key, sub)
                assert role[key]["options"][sub].get("default") == sub_item["default"], (key, sub)


def test_module_argument_spec_is_the_engine_schema():
    spec = dar_backup.argument_spec()
    assert set(spec) == set(settings.OPTIONS) | set(settings.RUN_ONLY_OPTIONS)
    assert spec["par2"]["options"]["redundancy"] == {"type": "int", "default": 5}
    assert spec["include"] == {"type": "list", "elements": "str", "default": []}
    assert spec["name"] == {"type": "str", "required": True}
