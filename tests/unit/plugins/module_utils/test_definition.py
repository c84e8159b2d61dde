# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

import pytest

from ansible_collections.dar.backup.plugins.module_utils import definition as definition_mod
from ansible_collections.dar.backup.plugins.module_utils.definition import Definition, parse_compression, read_dcf_root
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError


def test_engine_is_imported_from_this_checkout():
    repo = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    assert os.path.realpath(definition_mod.__file__) == os.path.join(repo, "plugins", "module_utils", "definition.py")


# --- compression ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("none", (None, None)),
    ("None", (None, None)),
    (" none ", (None, None)),
    (None, (None, None)),
    ("zstd", ("zstd", None)),
    ("zstd:3", ("zstd", 3)),
    ("zstd:22", ("zstd", 22)),
    ("gzip:9", ("gzip", 9)),
    ("gzip:1", ("gzip", 1)),
    ("xz:6", ("xz", 6)),
    ("lz4", ("lz4", None)),
    ("bzip2:5", ("bzip2", 5)),
    ("lzo:1", ("lzo", 1)),
])
def test_parse_compression_valid(text, expected):
    assert parse_compression(text) == expected


@pytest.mark.parametrize("text", ["brotli", "zip:3", "ZSTD:3", "", "zstd3", ":3"])
def test_parse_compression_bad_algorithm(text):
    with pytest.raises(DarBackupError) as info:
        parse_compression(text)
    assert info.value.phase == "validate"
    assert "unknown compression" in info.value.msg
    assert "zstd" in info.value.msg  # says what is accepted


@pytest.mark.parametrize("text", ["zstd:x", "zstd:-1", "zstd:1.5", "zstd:23", "zstd:0", "gzip:10", "gzip:0", "xz:99"])
def test_parse_compression_bad_level(text):
    with pytest.raises(DarBackupError) as info:
        parse_compression(text)
    assert info.value.phase == "validate"
    assert "compression level" in info.value.msg


def test_parse_compression_level_range_in_message():
    with pytest.raises(DarBackupError) as info:
        parse_compression("gzip:10")
    assert "1 to 9" in info.value.msg


# --- inline definitions -----------------------------------------------------------------------------------

@pytest.fixture
def root(tmp_path):
    path = tmp_path / "src"
    path.mkdir()
    return str(path)


def test_inline_definition_defaults(root):
    d = Definition("docs", root=root)
    assert d.root == root
    assert d.include == [] and d.exclude == []
    assert d.compression == "zstd:3"
    assert (d.compression_algo, d.compression_level) == ("zstd", 3)
    assert d.slice_size is None
    assert d.definition_file is None
    assert d.describe()["root"] == root


def test_definition_validates_name(root):
    with pytest.raises(DarBackupError) as info:
        Definition("../x", root=root)
    assert "not safe" in info.value.msg


@pytest.mark.parametrize("size", ["4G", "100M", "1", "650k", "2T", "1P", 4096])
def test_slice_size_valid(root, size):
    assert Definition("docs", root=root, slice_size=size).slice_size == str(size)


@pytest.mark.parametrize("size", ["0", "4g", "4GB", "4 G", "-1", "G", "", "1.5G", "04G", "4G\n"])
def test_slice_size_invalid(root, size):
    with pytest.raises(DarBackupError) as info:
        Definition("docs", root=root, slice_size=size)
    assert info.value.phase == "validate"
    assert "slice_size" in info.value.msg


@pytest.mark.parametrize("kind", ["include", "exclude"])
@pytest.mark.parametrize("path", ["/etc", "..", "../x", "a/../../b", "a/..", ""])
def test_selection_must_be_relative_without_dotdot(root, kind, path):
    with pytest.raises(DarBackupError) as info:
        Definition("docs", root=root, **{kind: [path]})
    assert info.value.phase == "validate"
    assert kind in info.value.msg


def test_selection_accepts_relative_paths(root):
    d = Definition("docs", root=root, include=["Documents", "Photos/2024"], exclude=["Documents/tmp", "a..b"])
    assert d.include == ["Documents", "Photos/2024"]
    assert d.exclude == ["Documents/tmp", "a..b"]


def test_missing_root(tmp_path):
    with pytest.raises(DarBackupError) as info:
        Definition("docs", root=str(tmp_path / "missing"))
    assert info.value.phase == "validate"
    assert str(tmp_path / "missing") in info.value.msg


def test_no_root_at_all():
    with pytest.raises(DarBackupError) as info:
        Definition("docs")
    assert "no root" in info.value.msg


def test_root_is_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(DarBackupError) as info:
        Definition("docs", root=str(path))
    assert "not a directory" in info.value.msg


def test_root_is_made_absolute(root, monkeypatch):
    monkeypatch.chdir(os.path.dirname(root))
    assert Definition("docs", root="src").root == root


# --- definition files (DCF) -------------------------------------------------------------------------------

def _dcf(tmp_path, text, name="def.dcf"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("line, expected", [
    ("-R /x", "/x"),
    ('-R "/with space"', "/with space"),
    ("-R '/single q'", "/single q"),
    ("--fs-root=/x", "/x"),
    ("--fs-root /y", "/y"),
    ("-R/x", "/x"),
    ("-R /x # the root", "/x"),
    ("-am -R /z -s 4G", "/z"),
])
def test_read_dcf_root_forms(tmp_path, line, expected):
    assert read_dcf_root(_dcf(tmp_path, line + "\n")) == expected


def test_read_dcf_root_skips_comments_and_takes_first(tmp_path):
    text = "# -R /commented\n\n   # -R /also\n-z zstd:5\n-g Documents\n-R /first\n-R /second\n"
    assert read_dcf_root(_dcf(tmp_path, text)) == "/first"


def test_read_dcf_without_root(tmp_path):
    path = _dcf(tmp_path, "# nothing\n-g Documents\n-z gzip\n")
    with pytest.raises(DarBackupError) as info:
        read_dcf_root(path)
    assert info.value.phase == "validate"
    assert "-R" in info.value.msg and path in info.value.msg


def test_read_dcf_unreadable(tmp_path):
    with pytest.raises(DarBackupError) as info:
        read_dcf_root(str(tmp_path / "missing.dcf"))
    assert "cannot read" in info.value.msg


def test_read_dcf_unparsable_line(tmp_path):
    with pytest.raises(DarBackupError) as info:
        read_dcf_root(_dcf(tmp_path, '-R "/unterminated\n'))
    assert "line 1" in info.value.msg


def test_definition_file(tmp_path, root):
    path = _dcf(tmp_path, "-R %s\n-z zstd:5\n" % root)
    d = Definition("docs", definition_file=path)
    assert d.root == root
    assert d.definition_file == path
    assert d.compression is None  # the file's own -z decides
    assert d.create_args() == ["-B", path]


def test_definition_file_root_must_exist(tmp_path):
    path = _dcf(tmp_path, "-R %s\n" % (tmp_path / "gone"))
    with pytest.raises(DarBackupError) as info:
        Definition("docs", definition_file=path)
    assert "does not exist" in info.value.msg


@pytest.mark.parametrize("extra", [{"root": "/tmp"}, {"include": ["a"]}, {"exclude": ["b"]}])
def test_definition_file_excludes_inline(tmp_path, root, extra):
    path = _dcf(tmp_path, "-R %s\n" % root)
    with pytest.raises(DarBackupError) as info:
        Definition("docs", definition_file=path, **extra)
    assert "not both" in info.value.msg


def test_definition_file_with_compression_override(tmp_path, root):
    path = _dcf(tmp_path, "-R %s\n" % root)
    args = Definition("docs", definition_file=path, compression="gzip:6").create_args()
    assert args[:2] == ["-B", path]
    assert "--compression=gzip:6" in args
    assert "-Z" in args


# --- create_args ------------------------------------------------------------------------------------------

def _pairs(args, flag):
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_create_args_inline(root):
    args = Definition("docs", root=root, include=["Documents", "Photos"], exclude=["Documents/tmp"],
                      slice_size="4G").create_args()
    assert args[:2] == ["-R", root]
    assert _pairs(args, "-g") == ["Documents", "Photos"]
    assert _pairs(args, "-P") == ["Documents/tmp"]
    assert "--compression=zstd:3" in args
    assert _pairs(args, "-s") == ["4G"]
    assert "-B" not in args
    masks = _pairs(args, "-Z")
    for ext in ("jpg", "mp4", "zip", "gz", "xz", "zst", "7z", "dar"):
        assert "*." + ext in masks
    # the masks are case-insensitive globs, and case sensitivity is restored after them
    first_mask = args.index("-Z")
    last_mask = len(args) - 1 - args[::-1].index("-Z")
    assert args.index("-an") < first_mask and args.index("-ag") < first_mask
    assert args.index("-acase") > last_mask


def test_create_args_compression_without_level(root):
    args = Definition("docs", root=root, compression="lz4").create_args()
    assert "--compression=lz4" in args


def test_create_args_no_compression(root):
    args = Definition("docs", root=root, compression="none").create_args()
    assert args == ["-R", root]
    assert not [a for a in args if a.startswith("--compression") or a in ("-Z", "-z", "-an", "-acase")]
