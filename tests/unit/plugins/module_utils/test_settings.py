# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.dar.backup.plugins.module_utils import settings
from ansible_collections.dar.backup.plugins.module_utils.backup import BackupRequest
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.modules import dar_backup


def complete(tmp_path, **extra):
    options = dict(extra)
    options.setdefault("root", str(tmp_path))
    options = settings.normalize(options, settings.DEFINITION_OPTIONS)
    options.update(name="docs", backup_dir=str(tmp_path / "backup"), catalog_dir=None, timeout=86400)
    return options


def _module_spec_as_settings(spec):
    """The module's argument spec in settings' terms: {key: (type, default, choices, suboptions)}."""
    result = {}
    for key, item in spec.items():
        kind = item.get("type", "str")
        sub = _module_spec_as_settings(item["options"]) if "options" in item else None
        default = item.get("default")
        result[key] = (kind, default, tuple(item["choices"]) if "choices" in item else None, sub)
    return result


def _settings_spec(spec):
    result = {}
    for key, item in spec.items():
        sub = _settings_spec(item["options"]) if "options" in item else None
        result[key] = (item["type"], item["default"], item.get("choices"), sub)
    return result


def test_options_match_the_module_argument_spec():
    # One contract: the runner's config accepts exactly the module's options, with its defaults, but for the
    # options of one run.
    assert _settings_spec(dict(settings.OPTIONS, **settings.RUN_ONLY_OPTIONS)) == \
        _module_spec_as_settings(dar_backup.argument_spec())


@pytest.mark.parametrize("value, mode", [(None, 0o600), (False, 0o600), (True, 0o640)])
def test_group_readable_reaches_the_request(tmp_path, value, mode):
    options = complete(tmp_path, **({} if value is None else {"group_readable": value}))
    assert settings.request_from_options(options).file_mode == mode


def test_group_readable_must_be_a_boolean(tmp_path):
    with pytest.raises(settings.OptionError) as info:
        settings.normalize({"root": "/x", "group_readable": "yes"}, settings.DEFINITION_OPTIONS)
    assert info.value.key == "group_readable"


def test_request_from_options_is_what_the_module_builds(tmp_path):
    options = complete(tmp_path, level="full", min_interval="20h",
                       par2={"redundancy": 7, "redundancy_full": 9, "dir": str(tmp_path / "p2")},
                       restore_test={"files": 3, "max_size": "1M", "exclude": ["*.tmp"]})
    request = settings.request_from_options(options)
    assert isinstance(request, BackupRequest)
    assert request.level == "full"
    assert request.min_interval == 72000 and request.full_interval == 365 * 86400
    assert request.par2.redundancy == 7 and request.par2.redundancy_for("FULL") == 9
    assert request.par2.directory == str(tmp_path / "p2")
    assert request.restore_test.files == 3 and request.restore_test.max_size == 1024 ** 2
    assert request.definition.compression == "zstd:3"
    module_request = dar_backup.build_request(options)
    assert vars(module_request.par2) == vars(request.par2)
    assert module_request.definition.create_args() == request.definition.create_args()


def test_restore_test_disabled_gives_none(tmp_path):
    request = settings.request_from_options(complete(tmp_path, restore_test={"enabled": False}))
    assert request.restore_test is None


def test_request_from_options_fails_like_the_engine(tmp_path):
    with pytest.raises(DarBackupError) as info:
        settings.request_from_options(complete(tmp_path, root=str(tmp_path / "missing")))
    assert info.value.phase == "validate"
    assert "does not exist" in info.value.msg


@pytest.mark.parametrize("options, key, text", [
    ({"rooot": "/x"}, "rooot", "unknown key"),
    ({"root": 5}, "root", "must be a string"),
    ({"root": "relative/dir"}, "root", "absolute path"),
    ({"root": "/x", "include": "docs"}, "include", "list of strings"),
    ({"root": "/x", "include": ["a", 3]}, "include", "list of strings"),
    ({"root": "/x", "verify": "yes"}, "verify", "true or false"),
    ({"root": "/x", "level": "weekly"}, "level", "not one of auto, full, diff, incr"),
    ({"root": "/x", "par2": {"redundancy": "lots"}}, "par2.redundancy", "whole number"),
    ({"root": "/x", "par2": {"colour": 1}}, "par2.colour", "unknown key"),
    ({"root": "/x", "par2": []}, "par2", "must be a mapping"),
    ({"root": "/x", "restore_test": {"files": True}}, "restore_test.files", "whole number"),
])
def test_normalize_names_the_key(options, key, text):
    with pytest.raises(settings.OptionError) as info:
        settings.normalize(options, settings.DEFINITION_OPTIONS)
    assert info.value.key == key
    assert text in info.value.msg
    assert info.value.msg.startswith(key + ": ")
    assert "\n" not in info.value.msg


def test_normalize_fills_defaults_and_accepts_numbers_as_text():
    options = settings.normalize({"root": "/x", "par2": {"redundancy": "10"}, "full_interval": 3600},
                                 settings.DEFINITION_OPTIONS)
    assert options["par2"]["redundancy"] == 10
    assert options["par2"]["enabled"] is True
    assert options["full_interval"] == "3600"
    assert options["restore_test"] == {"enabled": True, "files": 5, "min_size": "0", "max_size": "20M",
                                       "exclude": [], "seed": None, "dir": None}
    assert options["include"] == [] and options["level"] == "auto"
    # null means unset: the default applies
    assert settings.normalize({"root": "/x", "par2": None}, settings.DEFINITION_OPTIONS)["par2"]["redundancy"] == 5


def test_defaults_are_not_shared():
    first = settings.normalize({"root": "/x"}, settings.DEFINITION_OPTIONS)
    first["include"].append("mutated")
    first["restore_test"]["exclude"].append("mutated")
    second = settings.normalize({"root": "/x"}, settings.DEFINITION_OPTIONS)
    assert second["include"] == [] and second["restore_test"]["exclude"] == []


@pytest.mark.parametrize("extra, key, text", [
    ({"compression": "zip:3"}, "compression", "unknown compression"),
    ({"compression": "zstd:99"}, "compression", "from 1 to 22"),
    ({"slice_size": "4X"}, "slice_size", "not a size"),
    ({"full_interval": "soon"}, "full_interval", "not a duration"),
    ({"min_interval": "-1"}, "min_interval", "not a duration"),
    ({"restore_test": {"max_size": "huge"}}, "restore_test.max_size", "not a size"),
    ({"restore_test": {"min_size": "2M", "max_size": "1M"}}, "restore_test.max_size", "smaller"),
    ({"restore_test": {"files": -1}}, "restore_test.files", "0 or more"),
    ({"par2": {"redundancy": 0}}, "par2", "1 to 100"),
    ({"par2": {"block_count": 0}}, "par2", "block_count"),
    ({"definition_file": "/etc/dar-backup/docs.dcf"}, "definition_file", "not both"),
])
def test_check_values(tmp_path, extra, key, text):
    options = complete(tmp_path, **extra)
    with pytest.raises(settings.OptionError) as info:
        settings.check_values(options)
    assert info.value.key == key
    assert text in info.value.msg


def test_check_values_needs_a_root(tmp_path):
    options = complete(tmp_path)
    options["root"] = None
    with pytest.raises(settings.OptionError, match="root: is required"):
        settings.check_values(options)


def test_check_values_bad_name(tmp_path):
    options = complete(tmp_path)
    options["name"] = "my_docs"
    with pytest.raises(settings.OptionError, match="name: definition name 'my_docs' is not safe"):
        settings.check_values(options)


def test_check_values_reads_no_file_system(tmp_path):
    # A root that is missing today is the run's failure, not a config error.
    settings.check_values(complete(tmp_path, root=str(tmp_path / "not-mounted-yet")))
