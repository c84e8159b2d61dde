# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.dar.backup.plugins.module_utils import drill
from ansible_collections.dar.backup.plugins.module_utils.dar import iter_entries
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

MTIME = 1735689600
FULL = "docs_FULL_2026-11-20_100000"
DIFF = "docs_DIFF_2026-11-21_100000"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def xml_file(name, size, data="saved", mtime=MTIME):
    return ('<File name="%s" size="%d" stored="" crc="" dirty="no" sparse="no" delta_sig="no" patch_base_crc="" '
            'patch_result_crc="">\n<Attributes data="%s" metadata="absent" user="root" group="root" '
            'permissions=" -rw-r--r--" atime="0" mtime="%s" ctime="0" />\n</File>\n'
            % (name, size, data, mtime if mtime is not None else ""))


def xml_listing(*items):
    return '<?xml version="1.0" ?>\n<Catalog format="1.2">\n%s</Catalog>\n' % "".join(items)


def xml_dir(name, *items):
    return ('<Directory name="%s">\n<Attributes data="saved" metadata="absent" user="root" group="root" '
            'permissions=" drwxr-xr-x" atime="%d" mtime="%d" ctime="%d" />\n%s</Directory>\n'
            % (name, MTIME, MTIME, MTIME, "".join(items)))


class FakeDar(object):
    """Lists a given XML for the newest archive; headers name each archive's reference."""

    def __init__(self, listing, references=None):
        self.listing = listing
        self.references = references or {}
        self.listed = []

    def header(self, path):
        base = os.path.basename(path)
        level = base.split("_")[1]
        return {"User comment": "dar.backup level=%s reference=%s" % (level, self.references.get(base, "none"))}

    def list_xml(self, archive_path, xml_path, paths=None, saved_only=False, phase="read"):
        self.listed.append((os.path.basename(archive_path), saved_only, phase))
        with open(xml_path, "w", encoding="utf-8") as handle:
            handle.write(self.listing)


def put(root, relpath, data, mtime=MTIME):
    path = os.path.join(str(root), relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "src"
    backup = tmp_path / "backup"
    backup.mkdir()
    for base in (FULL, DIFF):
        (backup / (base + ".1.dar")).write_bytes(b"")
    return root, backup


def test_entries_carry_mtime():
    entries = list(iter_entries(xml_listing(xml_file("a", 1), xml_file("b", 2, mtime=None))))
    assert [(e.path, e.mtime) for e in entries] == [("a", MTIME), ("b", None)]


def test_sample_takes_unchanged_files_of_the_newest_state(tree):
    root, backup = tree
    put(root, "same.txt", b"same")
    put(root, "sub dir/new\nline.txt", b"twelve bytes")
    put(root, "referenced.txt", b"from the full")
    put(root, "grown.txt", b"now longer than recorded")
    put(root, "touched.txt", b"four", mtime=MTIME + 60)
    put(root, "deleted-in-diff.txt", b"gone from the state")
    os.symlink("same.txt", str(root / "now-a-link"))
    listing = xml_listing(
        xml_file("same.txt", 4), xml_file("referenced.txt", 13, data="referenced"), xml_file("grown.txt", 5),
        xml_file("touched.txt", 4), xml_file("vanished.txt", 3), xml_file("now-a-link", 4),
        xml_file("deleted-in-diff.txt", 19, data="deleted"),
        xml_dir("sub dir", xml_file("new\nline.txt", 12)))
    dar = FakeDar(listing, {DIFF: FULL})
    result = drill.sample(dar, str(backup), "docs", str(root), files=10, seed="s")
    assert result["archive"] == DIFF
    assert result["chain"] == [FULL, DIFF]
    assert result["slices"] == [str(backup / (FULL + ".1.dar")), str(backup / (DIFF + ".1.dar"))]
    assert dar.listed == [(DIFF, False, "sample")]  # the whole state, not only what the DIFF saved
    assert result["files"] == [
        {"path": "referenced.txt", "size": 13, "mtime": MTIME, "sha256": sha(b"from the full")},
        {"path": "same.txt", "size": 4, "mtime": MTIME, "sha256": sha(b"same")},
        {"path": "sub dir/new\nline.txt", "size": 12, "mtime": MTIME, "sha256": sha(b"twelve bytes")},
    ]
    assert (result["in_archive"], result["candidates"], result["skipped_changed"], result["skipped_gone"]) == \
        (7, 3, 3, 1)
    assert result["changed"] is False
    assert result["time"].endswith("Z")


def test_sample_is_reproducible_with_a_seed_and_bounded_by_files(tree):
    root, backup = tree
    items = []
    for index in range(40):
        put(root, "f%02d" % index, b"x" * index)
        items.append(xml_file("f%02d" % index, index))
    dar = FakeDar(xml_listing(*items), {DIFF: FULL})
    first = drill.sample(dar, str(backup), "docs", str(root), files=5, seed="42")
    again = drill.sample(dar, str(backup), "docs", str(root), files=5, seed="42")
    other = drill.sample(dar, str(backup), "docs", str(root), files=5, seed="43")
    assert len(first["files"]) == 5 and first["candidates"] == 40
    assert first["files"] == again["files"]
    assert first["files"] != other["files"]


def test_sample_skips_files_over_max_size(tree):
    root, backup = tree
    put(root, "big", b"b" * 2048)
    put(root, "small", b"s")
    dar = FakeDar(xml_listing(xml_file("big", 2048), xml_file("small", 1)), {DIFF: FULL})
    result = drill.sample(dar, str(backup), "docs", str(root), files=5, max_size="1k")
    assert [f["path"] for f in result["files"]] == ["small"]
    assert result["skipped_size"] == 1


def test_sample_with_nothing_unchanged_returns_no_files(tree):
    root, backup = tree
    put(root, "a", b"changed!", mtime=MTIME + 1)
    result = drill.sample(FakeDar(xml_listing(xml_file("a", 8)), {DIFF: FULL}), str(backup), "docs", str(root))
    assert result["files"] == [] and result["candidates"] == 0
    assert "no file of %s is unchanged" % DIFF in result["msg"]


def test_sample_without_archives_says_no_archive(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (tmp_path / "empty").mkdir()
    for backup_dir in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(DarBackupError) as info:
            drill.sample(FakeDar(""), str(backup_dir), "docs", str(root))
        assert info.value.msg.startswith("no archive of docs")
        assert info.value.phase is None


@pytest.mark.parametrize("kwargs, words", [
    ({"files": 0}, "files must be a whole number >= 1"),
    ({"files": True}, "files must be a whole number"),
    ({"max_size": "huge"}, "max_size 'huge' is not a size"),
    ({"root": "relative"}, "root 'relative' must be"),
    ({"name": "../etc"}, "cannot name archives"),
])
def test_sample_validates(tree, kwargs, words):
    root, backup = tree
    root.mkdir()
    args = {"backup_dir": str(backup), "name": "docs", "root": str(root)}
    args.update(kwargs)
    with pytest.raises(DarBackupError) as info:
        drill.sample(FakeDar(""), **args)
    assert words in info.value.msg
    assert info.value.phase == "validate"


def test_sample_broken_chain_fails(tree):
    root, backup = tree
    root.mkdir()
    os.unlink(str(backup / (FULL + ".1.dar")))
    with pytest.raises(DarBackupError) as info:
        drill.sample(FakeDar(xml_listing(), {DIFF: FULL}), str(backup), "docs", str(root))
    assert "made against %s, which is not in" % FULL in info.value.msg


# --- prepare ---------------------------------------------------------------------------------------------

def test_prepare_makes_a_private_scratch_and_a_fresh_dest(tmp_path):
    scratch = tmp_path / "scratch"
    dest = scratch / "web1" / "docs"
    result = drill.prepare(str(scratch), str(dest))
    assert result["path"] == str(dest) and result["replaced"] is False and dest.is_dir()
    assert oct(scratch.stat().st_mode & 0o777) == "0o700"
    put(dest, "files/old", b"left by a kept drill")
    os.symlink("/etc", str(dest / "link"))
    again = drill.prepare(str(scratch), str(dest) + "/")
    assert again["replaced"] is True
    assert os.listdir(str(dest)) == []
    assert os.path.isdir("/etc")


def test_prepare_refuses_a_scratch_it_does_not_own_alone(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    link = tmp_path / "scratch"
    os.symlink(str(real), str(link))
    with pytest.raises(DarBackupError) as info:
        drill.prepare(str(link), str(link / "h" / "docs"))
    assert info.value.phase == "prepare" and "a symlink" in info.value.msg
    assert os.listdir(str(real)) == []
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(str(shared), 0o1777)
    with pytest.raises(DarBackupError) as info:
        drill.prepare(str(shared), str(shared / "h" / "docs"))
    assert "mode 1777" in info.value.msg


def test_prepare_refuses_a_planted_link_on_the_way(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o700)
    os.symlink(str(tmp_path), str(scratch / "h"))
    with pytest.raises(DarBackupError) as info:
        drill.prepare(str(scratch), str(scratch / "h" / "docs"))
    assert "a symlink" in info.value.msg


@pytest.mark.parametrize("scratch, dest", [("/var/tmp/d", "/var/tmp/d"), ("/var/tmp/d", "/var/tmp/d/../x"),
                                           ("/var/tmp/d", "/etc"), ("relative", "/var/tmp/d/x"),
                                           ("/var/tmp/d", "x")])
def test_prepare_dest_must_be_below_scratch(scratch, dest):
    with pytest.raises(DarBackupError) as info:
        drill.prepare(scratch, dest)
    assert info.value.phase == "validate"


# --- check -----------------------------------------------------------------------------------------------

def expected(path, data):
    return {"path": path, "size": len(data), "sha256": sha(data)}


def test_check_passes_when_every_file_matches(tmp_path):
    dest = tmp_path / "restore"
    put(dest, "a.txt", b"alpha")
    put(dest, "sub/-dash\nnl", b"beta")
    result = drill.check(str(dest), [expected("a.txt", b"alpha"), expected("sub/-dash\nnl", b"beta")])
    assert result["passed"] is True and result["failures"] == [] and result["changed"] is False
    assert [r["result"] for r in result["files"]] == ["ok", "ok"]
    assert result["files"][0]["actual"] == sha(b"alpha")


def test_check_reports_each_kind_of_failure(tmp_path):
    dest = tmp_path / "restore"
    outside = tmp_path / "outside"
    put(outside, "secret", b"alpha")
    put(dest, "changed.txt", b"bravo")
    put(dest, "shorter.txt", b"abc")
    os.symlink(str(outside / "secret"), str(dest / "link.txt"))
    os.symlink(str(outside), str(dest / "linkdir"))
    (dest / "adir").mkdir()
    os.mkfifo(str(dest / "fifo"))
    result = drill.check(str(dest), [
        expected("changed.txt", b"brave"), expected("shorter.txt", b"abcd"), expected("absent.txt", b"x"),
        expected("no/such/dir.txt", b"x"), expected("link.txt", b"alpha"), expected("linkdir/secret", b"alpha"),
        expected("adir", b"x"), expected("fifo", b"x"), expected("new\nline", b"x")])
    by_path = dict((r["path"], r) for r in result["files"])
    assert result["passed"] is False
    assert by_path["changed.txt"]["result"] == "mismatch" and by_path["changed.txt"]["actual"] == sha(b"bravo")
    assert "3 bytes, the source had 4" in by_path["shorter.txt"]["detail"]
    assert by_path["absent.txt"]["result"] == "missing"
    assert by_path["no/such/dir.txt"]["result"] == "missing"
    # Links are never followed, so the file outside dest is never read.
    assert by_path["link.txt"]["result"] == "not_a_file" and by_path["link.txt"]["actual"] is None
    assert by_path["linkdir/secret"]["result"] == "not_a_file"
    assert by_path["adir"]["result"] == "not_a_file"
    assert by_path["fifo"]["result"] == "not_a_file"
    assert len(result["failures"]) == 9
    assert "new\\x0aline: missing from the restore" in result["failures"]
    assert all("\n" not in line for line in result["failures"])
    assert result["msg"] == "0 of 9 restored file(s) match the source's checksums"


@pytest.mark.parametrize("files, words", [
    ([], "non-empty list"), ("a", "non-empty list"), ([{"path": "a"}], "files[0] must be a dict"),
    ([{"path": "../x", "sha256": "0"}], "must not contain '..'"), ([{"path": "/etc/passwd", "sha256": "0"}], "absolute"),
    ([{"path": "a//b", "sha256": "0"}], "not a normalised relative path"),
])
def test_check_validates_files(tmp_path, files, words):
    with pytest.raises(DarBackupError) as info:
        drill.check(str(tmp_path), files)
    assert words in info.value.msg


def test_check_needs_an_existing_dest(tmp_path):
    with pytest.raises(DarBackupError) as info:
        drill.check(str(tmp_path / "nope"), [expected("a", b"a")])
    assert "cannot be opened as a directory" in info.value.msg


# --- record ----------------------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 11, 22, 3, 0, 0, tzinfo=datetime.timezone.utc)


def sampled(*paths):
    return {"changed": False, "archive": FULL, "time": "2026-11-22T02:59:00Z",
            "files": [{"path": p, "size": 1, "sha256": "0"} for p in paths], "msg": "sampled"}


def looped(*results):
    return {"changed": False, "msg": "All items completed", "results": list(results)}


SKIPPED = {"skipped": True, "changed": False}


def good_drill(host="web1", target="web2", definitions=("docs",)):
    count = len(definitions)
    return {"host": host, "target": target, "definitions": list(definitions),
            "sample": looped(*[sampled("a", "b")] * count), "prepare": looped(*[{"path": "/x"}] * count),
            "restore": looped(*[{"restored": []}] * count),
            "check": looped(*[{"passed": True, "failures": []}] * count)}


def test_record_writes_and_merges(tmp_path):
    report = tmp_path / "report"
    path = report / "drills.json"
    result = drill.record(str(report), [good_drill()], now=NOW)
    assert result["failed_drills"] == [] and result["changed"] is True and result["set_aside"] is None
    first = json.loads(path.read_text())
    assert first == {"web1": {"docs": {"time": "2026-11-22T02:59:00Z", "target": "web2", "archive": FULL,
                                       "files": 2, "passed": True, "failures": [], "error": None}}}
    # Another host, and another definition of web1, are kept; the entry drilled again is replaced.
    existing = json.loads(path.read_text())
    existing["web9"] = {"etc": {"passed": True}}
    existing["web1"]["etc"] = {"passed": False}
    path.write_text(json.dumps(existing))
    again = good_drill(target="localhost")
    again["check"] = looped({"passed": False, "failures": ["a: content differs"]})
    result = drill.record(str(report), [again], now=NOW)
    merged = json.loads(path.read_text())
    assert merged["web9"] == {"etc": {"passed": True}}
    assert merged["web1"]["etc"] == {"passed": False}
    assert merged["web1"]["docs"]["target"] == "control node"
    assert merged["web1"]["docs"]["failures"] == ["a: content differs"]
    assert result["failed_drills"] == ["web1 docs -> control node: 1 of 2 files differ: a: content differs"]
    assert sorted(os.listdir(str(report))) == ["drills.json"]  # no temp file left behind


def test_record_sets_an_unreadable_file_aside(tmp_path):
    (tmp_path / "drills.json").write_text("{not json")
    result = drill.record(str(tmp_path), [good_drill()], now=NOW)
    assert result["set_aside"].startswith(str(tmp_path / "drills.json.unreadable-"))
    assert open(result["set_aside"]).read() == "{not json"
    assert list(json.loads((tmp_path / "drills.json").read_text())) == ["web1"]


def test_record_check_mode_writes_nothing(tmp_path):
    result = drill.record(str(tmp_path / "r"), [good_drill()], check_mode=True, now=NOW)
    assert result["changed"] is True and not (tmp_path / "r").exists()


@pytest.mark.parametrize("change, error", [
    ({"sample": {"unreachable": True, "msg": "Failed to connect\n to the host", "changed": False}},
     "source unreachable: Failed to connect to the host"),
    ({"sample": looped({"failed": True, "msg": "no archive of docs in /srv/backup"})}, "no archive of docs in /srv/backup"),
    ({"sample": looped({"archive": FULL, "files": [], "msg": "no file of X is unchanged"})},
     "nothing to drill: no file of X is unchanged"),
    ({"sample": looped(SKIPPED)}, "not sampled"),
    ({"prepare": looped({"unreachable": True, "msg": "host down"})}, "web2 unreachable: host down"),
    ({"prepare": looped({"failed": True, "msg": "prepare: scratch is a symlink"})},
     "prepare on web2 failed: prepare: scratch is a symlink"),
    ({"restore": looped({"failed": True, "msg": "plan: archive gone"})}, "restore on web2 failed: plan: archive gone"),
    ({"restore": {}}, "restore on web2 did not run"),
    ({"check": looped(SKIPPED)}, "check on web2 did not run"),
    ({"check": looped({"failed": True, "msg": "validate: bad"})}, "check on web2 failed: validate: bad"),
])
def test_record_judges_each_way_a_drill_fails(tmp_path, change, error):
    broken = good_drill()
    broken.update(change)
    result = drill.record(str(tmp_path), [broken], now=NOW)
    entry = result["drills"]["web1"]["docs"]
    assert entry["passed"] is False and entry["error"] == error
    assert result["failed_drills"] == ["web1 docs -> web2: " + error]
    if "unreachable" in json.dumps(change.get("sample", {})):
        assert entry["time"] == "2026-11-22T03:00:00Z" and entry["archive"] is None and entry["files"] == 0


def test_record_aligns_results_with_definitions(tmp_path):
    both = good_drill(definitions=("docs", "etc"))
    both["sample"] = looped({"failed": True, "msg": "no archive of docs in /b"}, sampled("x"))
    both["prepare"] = looped(SKIPPED, {"path": "/x"})
    both["restore"] = looped(SKIPPED, {"restored": []})
    both["check"] = looped(SKIPPED, {"passed": True, "failures": []})
    result = drill.record(str(tmp_path), [both], now=NOW)
    assert result["drills"]["web1"]["docs"]["error"] == "no archive of docs in /b"
    assert result["drills"]["web1"]["etc"]["passed"] is True
    assert result["drills"]["web1"]["etc"]["files"] == 1
    assert result["msg"].startswith("2 drill(s), 1 failed")


@pytest.mark.parametrize("report_dir, drills, words", [
    ("relative", [], "must be an absolute path"), ("/tmp/x", "no", "drills must be a list"),
    ("/tmp/x", [{"target": "a"}], "each drills entry needs a host"),
])
def test_record_validates(report_dir, drills, words):
    with pytest.raises(DarBackupError) as info:
        drill.record(report_dir, drills, now=NOW)
    assert words in info.value.msg


def test_shown_escapes_control_characters():
    assert drill.shown("a\nb\tc\x7fé") == "a\\x0ab\\x09c\\x7fé"
