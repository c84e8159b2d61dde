# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup options -> engine objects, in one place for the dar_backup module and the on-host runner.

``OPTIONS`` describes the dar_backup module's options (types, defaults, choices) in plain Python, so the
runner can check a JSON config against the same contract the module's argument spec enforces, and
``request_from_options`` turns a complete set of options (module params, or a runner definition after
``normalize``) into a BackupRequest.
"""

from __future__ import annotations

import os

from .backup import LEVEL_CHOICES, BackupRequest, Par2Settings
from .definition import SLICE_SIZE_RE, Definition, parse_compression
from .errors import DarBackupError
from .intervals import parse_duration
from .naming import check_definition_name
from .restore_test import RestoreTestSettings, parse_size


def option(kind, default=None, choices=None, options=None, required=False, elements=None):
    spec = {"type": kind, "default": default}
    if kind == "list":
        spec["elements"] = elements or "str"
    if choices is not None:
        spec["choices"] = tuple(choices)
    if options is not None:
        spec["options"] = options
    if required:
        spec["required"] = True
    return spec


def argument_spec(spec):
    """``spec`` (a mapping of option()s) as an Ansible argument spec: the dar_backup module's, the role's."""
    result = {}
    for key, item in spec.items():
        entry = {"type": item["type"]}
        for field in ("elements", "required"):
            if item.get(field):
                entry[field] = item[field]
        if item.get("choices") is not None:
            entry["choices"] = list(item["choices"])
        if item.get("default") is not None:
            entry["default"] = list(item["default"]) if isinstance(item["default"], (list, tuple)) \
                else dict(item["default"]) if isinstance(item["default"], dict) else item["default"]
        if item.get("options") is not None:
            entry["options"] = argument_spec(item["options"])
        result[key] = entry
    return result


RESTORE_TEST_OPTIONS = {
    "enabled": option("bool", True),
    "files": option("int", 5),
    "min_size": option("str", "0"),
    "max_size": option("str", "20M"),
    "exclude": option("list", []),
    "seed": option("int"),
    "dir": option("path"),
}

PAR2_OPTIONS = {
    "enabled": option("bool", True),
    "redundancy": option("int", 5),
    "redundancy_full": option("int"),
    "redundancy_diff": option("int"),
    "redundancy_incr": option("int"),
    "dir": option("path"),
    "block_count": option("int"),
    "binary": option("str"),
}

# What one definition is: the dar_backup module's options except name, backup_dir, catalog_dir and timeout.
DEFINITION_OPTIONS = {
    "definition_file": option("path"),
    "root": option("path"),
    "include": option("list", []),
    "exclude": option("list", []),
    "compression": option("str"),
    "slice_size": option("str"),
    "level": option("str", "auto", choices=LEVEL_CHOICES),
    "full_interval": option("str", "365d"),
    "diff_interval": option("str", "30d"),
    "min_interval": option("str"),
    "incr_reference": option("str", "diff", choices=("diff", "previous")),
    "verify": option("bool", True),
    "restore_test": option("dict", {}, options=RESTORE_TEST_OPTIONS),
    "par2": option("dict", {}, options=PAR2_OPTIONS),
    "catalog": option("bool", True),
    "group_readable": option("bool", False),
}

# The options that are not about one definition.
COMMON_OPTIONS = {
    "name": option("str", required=True),
    "backup_dir": option("path", required=True),
    "catalog_dir": option("path"),
    "timeout": option("int", 86400),
}

OPTIONS = dict(COMMON_OPTIONS, **DEFINITION_OPTIONS)

# Options of one run of the dar_backup module, which a definition (and so the runner's config) has no place for.
RUN_ONLY_OPTIONS = {
    "reference": option("str"),
}


class OptionError(DarBackupError):
    """An option that is missing, unknown or of the wrong type or value; ``key`` names it (dotted)."""

    def __init__(self, key, msg):
        super().__init__("%s: %s" % (key, msg), phase="config")
        self.key = key
        self.detail = msg


def _type_name(value):
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)


def _convert(key, spec, value, absolute_paths):
    kind = spec["type"]
    if kind == "bool":
        if not isinstance(value, bool):
            raise OptionError(key, "must be true or false, not %s" % _type_name(value))
    elif kind == "int":
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(key, "must be a whole number, not %s" % _type_name(value))
    elif kind in ("str", "path"):
        if isinstance(value, int) and not isinstance(value, bool) and kind == "str":
            value = str(value)
        if not isinstance(value, str):
            raise OptionError(key, "must be a string, not %s" % _type_name(value))
        if kind == "path":
            if not value:
                raise OptionError(key, "must not be empty")
            value = os.path.expanduser(value)
            if absolute_paths and not os.path.isabs(value):
                raise OptionError(key, "%r must be an absolute path" % value)
    elif kind == "list":
        if not isinstance(value, list):
            raise OptionError(key, "must be a list of strings, not %s" % _type_name(value))
        for item in value:
            if not isinstance(item, str):
                raise OptionError(key, "must be a list of strings; %r is %s" % (item, _type_name(item)))
        value = list(value)
    elif kind == "dict":
        if not isinstance(value, dict):
            raise OptionError(key, "must be a mapping, not %s" % _type_name(value))
        value = normalize(value, spec["options"], prefix=key + ".", absolute_paths=absolute_paths)
    if "choices" in spec and value not in spec["choices"]:
        raise OptionError(key, "%r is not one of %s" % (value, ", ".join(spec["choices"])))
    return value


def normalize(options, spec=None, prefix="", absolute_paths=True):
    """Check ``options`` (a mapping read from JSON) against ``spec`` and fill in the defaults.

    Raises OptionError naming the (dotted) key for an unknown key, a missing required one, or a value
    of the wrong type or outside its choices. null means unset. Paths must be absolute unless
    ``absolute_paths`` is false.
    """
    spec = OPTIONS if spec is None else spec
    if not isinstance(options, dict):
        raise OptionError(prefix.rstrip(".") or "options", "must be a mapping, not %s" % _type_name(options))
    for key in sorted(options):
        if key not in spec:
            raise OptionError(prefix + str(key), "unknown key (known: %s)" % ", ".join(sorted(spec)))
    result = {}
    for key in sorted(spec):
        item = spec[key]
        value = options.get(key)
        if value is None:
            if item.get("required"):
                raise OptionError(prefix + key, "is required")
            default = item["default"]
            if item["type"] == "dict":
                value = normalize(dict(default or {}), item["options"], prefix=prefix + key + ".",
                                  absolute_paths=absolute_paths)
            else:
                value = list(default) if isinstance(default, list) else default
        else:
            value = _convert(prefix + key, item, value, absolute_paths)
        result[key] = value
    return result


def _check(key, func, *args):
    try:
        return func(*args)
    except DarBackupError as exc:
        raise OptionError(key, exc.msg)


def _check_slice_size(value):
    if value is not None and not SLICE_SIZE_RE.fullmatch(str(value)):
        raise DarBackupError("%r is not a size: use a number with an optional k, M, G, T or P suffix, e.g. 4G"
                             % (value,))


def check_values(options):
    """The checks of request_from_options that read no file system, as OptionErrors naming the key.

    For a runner config: a value that can never work is a configuration error (exit 2), while a root
    that is missing today (an unmounted disk) fails that run only.
    """
    _check("name", check_definition_name, options["name"])
    if options["definition_file"] and (options["root"] or options["include"] or options["exclude"]):
        raise OptionError("definition_file", "give either definition_file or root/include/exclude, not both")
    if not options["definition_file"] and not options["root"]:
        raise OptionError("root", "is required (or definition_file)")
    _check("compression", parse_compression, options["compression"])
    _check("slice_size", _check_slice_size, options["slice_size"])
    for key in ("full_interval", "diff_interval", "min_interval"):
        _check(key, parse_duration, options[key], key)
    rt = options["restore_test"]
    if rt["files"] < 0:
        raise OptionError("restore_test.files", "must be 0 or more")
    low = _check("restore_test.min_size", parse_size, rt["min_size"], "restore_test.min_size") or 0
    high = _check("restore_test.max_size", parse_size, rt["max_size"], "restore_test.max_size")
    if high is not None and high < low:
        raise OptionError("restore_test.max_size", "is smaller than restore_test.min_size")
    _check("par2", _par2_settings, options["par2"])
    if options["timeout"] < 0:
        raise OptionError("timeout", "must be 0 (no limit) or more seconds")


def _par2_settings(p2):
    return Par2Settings(enabled=p2["enabled"], redundancy=p2["redundancy"], redundancy_full=p2["redundancy_full"],
                        redundancy_diff=p2["redundancy_diff"], redundancy_incr=p2["redundancy_incr"],
                        directory=p2["dir"], block_count=p2["block_count"], binary=p2["binary"])


def par2_settings(options):
    """Par2Settings of a complete set of options (also what verify --create-missing protects with)."""
    return _par2_settings(options["par2"])


def request_from_options(options):
    """A complete set of options (the dar_backup module's params) -> BackupRequest.

    Every check the engine makes happens here, before anything is written; failures raise
    DarBackupError with phase ``validate``.
    """
    definition = Definition(
        options["name"], root=options["root"], include=options["include"], exclude=options["exclude"],
        compression=options["compression"], slice_size=options["slice_size"],
        definition_file=options["definition_file"])
    rt = options["restore_test"]
    restore_test = None
    if rt["enabled"]:
        restore_test = RestoreTestSettings(files=rt["files"], min_size=rt["min_size"], max_size=rt["max_size"],
                                           exclude=rt["exclude"], seed=rt["seed"], work_dir=rt["dir"])
    par2 = par2_settings(options)
    return BackupRequest(
        definition, options["backup_dir"], level=options["level"],
        full_interval=parse_duration(options["full_interval"], "full_interval"),
        diff_interval=parse_duration(options["diff_interval"], "diff_interval"),
        min_interval=parse_duration(options["min_interval"], "min_interval"),
        incr_reference=options["incr_reference"], verify=options["verify"], restore_test=restore_test,
        par2=par2, catalog=options["catalog"], catalog_dir=options["catalog_dir"], timeout=options["timeout"],
        group_readable=options["group_readable"])
