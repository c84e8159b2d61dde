#!/usr/bin/env python
"""Keep the configure role's argument spec for ``dar_backup_definitions`` derived from the engine's schema.

A definition's keys, types, choices and defaults are declared once, in ``plugins/module_utils/settings.py``
(``DEFINITION_OPTIONS``); the dar_backup module's argument spec is built from it at run time, and its
DOCUMENTATION (checked against that spec by ``ansible-test sanity``) describes each key. This script writes
``dar_backup_definitions.options`` of ``roles/configure/meta/argument_specs.yml`` from those two, plus the keys
only the role has (``schedule``), so Ansible validates every definition at role start and ``ansible-doc -t role``
documents it. The rest of the file is edited by hand.

  python3 scripts/role_specs.py           rewrite the file
  python3 scripts/role_specs.py --check   exit 1 when the file is not what this script writes

tests/unit/test_role_specs.py runs the check.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC_FILE = os.path.join(REPO, "roles", "configure", "meta", "argument_specs.yml")
MODULE_FILE = os.path.join(REPO, "plugins", "modules", "dar_backup.py")

# The engine's keys a role definition does not take: the role writes the DCF file itself.
MODULE_ONLY = ("definition_file",)

# Where the role's meaning of a key differs from the module's.
ROLE_OVERRIDES = {
    "name": {
        "required": True,
        "description": [
            "Name of the definition: letters, digits and inner hyphens (the role keeps new names strict; archives"
            " of dar-backup definitions with other names are still read and restored by the modules).",
            "It is the first field of archive names, and names the DCF file, the units and the catalog database.",
        ],
    },
    "root": {
        "required": True,
        "description": ["Directory to back up (dar's C(-R)), absolute, present on the host when the role runs."],
    },
    "group_readable": {
        "default": None,
        "extra": ["O(dar_backup_group_readable) when unset."],
    },
}

SCHEDULE = {
    "type": "dict",
    "description": [
        "systemd calendars (C(OnCalendar)) for this definition's FULL, DIFF and INCR timers, merged key by key over"
        " O(dar_backup_schedule): a schedule with only C(incr) keeps the FULL and DIFF timers.",
        "Only an explicit empty string or null disables that level's timer.",
    ],
    "options": {
        level: {"type": "str", "description": ["When %s backups of this definition run." % level.upper()]}
        for level in ("full", "diff", "incr")
    },
}


def load_settings():
    """plugins/module_utils as a package of its own (it uses relative imports), without Ansible."""
    name = "dar_backup_role_specs_engine"
    package_dir = os.path.join(REPO, "plugins", "module_utils")
    spec = importlib.util.spec_from_file_location(name, os.path.join(package_dir, "__init__.py"),
                                                  submodule_search_locations=[package_dir])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    if os.path.exists(os.path.join(package_dir, "__init__.py")):
        spec.loader.exec_module(package)
    __import__(name + ".settings")
    return sys.modules[name + ".settings"]


def module_documentation():
    with open(MODULE_FILE, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise SystemExit("%s has no DOCUMENTATION" % MODULE_FILE)


def _role_text(lines):
    # The module's O() and RV() name the module's options and return values; in the role they are plain names.
    if isinstance(lines, str):
        lines = [lines]
    return [re.sub(r"\b(?:O|RV)\(([^)=]+)(=[^)]*)?\)", lambda m: "C(%s%s)" % (m.group(1), m.group(2) or ""), line)
            for line in lines]


def _entry(argspec, doc, override=None):
    override = override or {}
    entry = {"type": argspec["type"]}
    if override.get("required") or argspec.get("required"):
        entry["required"] = True
    for field in ("elements", "choices"):
        if field in argspec:
            entry[field] = argspec[field]
    default = override.get("default", argspec.get("default"))
    if default is not None and not entry.get("required"):
        entry["default"] = default
    entry["description"] = list(override.get("description") or _role_text(doc["description"]))
    entry["description"] += override.get("extra", [])
    if "options" in argspec:
        entry["options"] = dict(
            (key, _entry(argspec["options"][key], doc["suboptions"][key])) for key in argspec["options"])
    return entry


def definition_options():
    settings = load_settings()
    docs = module_documentation()["options"]
    spec = settings.argument_spec(dict(settings.OPTIONS))
    keys = ["name"] + [k for k in settings.DEFINITION_OPTIONS if k not in MODULE_ONLY]
    options = dict((key, _entry(spec[key], docs[key], ROLE_OVERRIDES.get(key))) for key in keys)
    options["schedule"] = SCHEDULE
    return options


class _Dumper(yaml.SafeDumper):
    # yamllint (ansible-lint) wants sequences indented under their key.
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def render():
    with open(SPEC_FILE, encoding="utf-8") as handle:
        specs = yaml.safe_load(handle)
    specs["argument_specs"]["main"]["options"]["dar_backup_definitions"]["options"] = definition_options()
    return "---\n" + yaml.dump(specs, Dumper=_Dumper, sort_keys=False, width=118, allow_unicode=True,
                               default_flow_style=False)


def main(argv):
    text = render()
    with open(SPEC_FILE, encoding="utf-8") as handle:
        current = handle.read()
    if "--check" in argv:
        if current != text:
            print("%s is not derived from settings.py and dar_backup's DOCUMENTATION: run python3 %s"
                  % (os.path.relpath(SPEC_FILE, REPO), os.path.relpath(__file__, REPO)), file=sys.stderr)
            return 1
        return 0
    if current != text:
        with open(SPEC_FILE, "w", encoding="utf-8") as handle:
            handle.write(text)
        print("wrote %s" % os.path.relpath(SPEC_FILE, REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
