# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dar itself: create, test, list and extract, with its exit codes given meaning."""

from __future__ import annotations

import os
import re

from . import command

# dar(1) EXIT CODES. 5 and 11 leave a usable archive: reported as warnings, never hidden.
DAR_EXIT_MEANING = {
    0: "success",
    1: "syntax error on the command line or in a DCF file",
    2: "error due to the hardware or lack of memory (for example the disk is full)",
    3: "a condition dar's authors considered impossible (bug)",
    4: "aborted: by the user, by a signal, or because dar needed an answer while not on a terminal",
    5: "data error: some files could not be read or saved, or the archive is corrupt",
    6: "a user command given with -E/-F failed",
    7: "libdar API misuse",
    8: "integer overflow",
    9: "unknown error",
    10: "a feature dar was compiled without",
    11: "some files changed while they were being saved (they are marked dirty)",
}
DAR_WARNING_CODES = (5, 11)
_VERSIONS = {}
# Base options on every call: never prompt (-Q), never read /etc/darrc or ~/.darrc (-N).
BASE = ["-N", "-Q"]

_STAT_PATTERNS = {
    "saved": r"(\d+) inode\(s\) saved",
    "changed_while_saving": r"(\d+) inode\(s\) changed at the moment of the backup",
    "metadata_only": r"(\d+) inode\(s\) with only metadata changed",
    "not_saved": r"(\d+) inode\(s\) not saved \(no inode/file change\)",
    "failed": r"(\d+) inode\(s\) failed to be saved",
    "excluded": r"(\d+) inode\(s\) ignored \(excluded by filters\)",
    "deleted": r"(\d+) inode\(s\) recorded as deleted",
    "considered": r"Total number of inode\(s\) considered: (\d+)",
}


def meaning(rc):
    if rc is None:
        return "dar could not be started"
    if rc < 0:
        return "killed by signal %d" % -rc
    return DAR_EXIT_MEANING.get(rc, "unknown exit code")


def parse_stats(text):
    stats = {}
    for key, pattern in _STAT_PATTERNS.items():
        match = re.search(pattern, text)
        if match:
            stats[key] = int(match.group(1))
    return stats


class Dar(object):
    """One dar binary and the commands the engine runs with it."""

    def __init__(self, binary=None, timeout=command.DEFAULT_TIMEOUT):
        self.binary = binary or command.find_tool("dar")
        self.timeout = timeout

    def _run(self, args, **kwargs):
        return command.run([self.binary] + args, timeout=self.timeout, **kwargs)

    def create(self, archive_path, selection_args, reference_path=None, comment=None):
        """dar -c. Returns (CommandResult, warning or None); raises on failure codes."""
        args = ["-c", archive_path] + BASE + ["-n"] + selection_args
        if reference_path:
            args += ["-A", reference_path]
        if comment:
            # dar expands %-macros in comments; a literal % is written %%.
            args += ["--user-comment", comment.replace("%", "%%")]
        result = self._run(args)
        warning = self._judge(result, "create", "dar -c (create)")
        return result, warning

    def test_args(self, archive_path):
        return [self.binary, "-t", archive_path] + BASE

    def test(self, archive_path):
        result = command.run(self.test_args(archive_path), timeout=self.timeout)
        if result.rc != 0:
            raise result.error("dar -t found %s unusable: rc %s, %s" % (archive_path, result.rc, meaning(result.rc)),
                               "verify")
        return result

    def version(self):
        """dar's version as it reports it ("2.7.8"), or None when it does not say; asked once per binary."""
        if self.binary not in _VERSIONS:
            result = self._run(["-V"] + BASE)
            match = re.search(r"dar version (\S+?),", result.stdout)
            _VERSIONS[self.binary] = match.group(1) if result.rc == 0 and match else None
        return _VERSIONS[self.binary]

    def header(self, archive_path):
        """The archive's summary (dar -l -q) as a dict of its 'key : value' lines."""
        result = self._run(["-l", archive_path] + BASE + ["-q"])
        if result.rc != 0:
            raise result.error("dar cannot read the catalogue of %s: rc %s, %s"
                               % (archive_path, result.rc, meaning(result.rc)), "read")
        fields = {}
        for line in result.stdout.splitlines():
            key, sep, value = line.partition(" : ")
            if sep and key.strip() and key.strip() not in fields:
                fields[key.strip()] = value.strip()
        return fields

    def list_xml(self, archive_path, xml_path, paths=None, saved_only=False, phase="read"):
        """Write the XML listing of the catalogue (optionally only ``paths``, only saved entries) to xml_path."""
        # -ay: sizes in bytes, not rounded down to dar's display unit.
        args = ["-l", archive_path] + BASE + ["-ay", "-Txml"]
        if saved_only:
            args.append("-as")
        for path in paths or []:
            args += ["-g", path]
        result = self._run(args, stdout_path=xml_path)
        if result.rc != 0:
            raise result.error("dar -l of %s failed: rc %s, %s" % (archive_path, result.rc, meaning(result.rc)),
                               phase)
        return result

    def list_saved_xml(self, archive_path, xml_path):
        """The XML listing of the entries saved in this archive (not those it only references)."""
        return self.list_xml(archive_path, xml_path, saved_only=True, phase="restore_test")

    def extract(self, archive_path, dest, paths, restore_owner):
        """dar -x of ``paths`` (all when empty) into dest, overwriting and applying deletions there."""
        result = self._run(self._extract_args(archive_path, dest, paths, restore_owner))
        if result.rc != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
            raise result.error("dar -x of %s failed with rc %s: %s%s" % (
                os.path.basename(archive_path), result.rc, meaning(result.rc),
                " (%s)" % detail[-1].strip() if detail else ""), "extract")
        skipped = not_restored(result)
        if skipped:
            raise result.error("dar -x of %s did not restore %d file(s) although it exited 0: %s%s" % (
                os.path.basename(archive_path), len(skipped), "; ".join(skipped[:PROBLEM_LINES_SHOWN]),
                "; and %d more" % (len(skipped) - PROBLEM_LINES_SHOWN) if len(skipped) > PROBLEM_LINES_SHOWN
                else ""), "extract")
        return result

    @staticmethod
    def _extract_args(archive_path, dest, paths, restore_owner):
        # -g takes paths literally (glob characters are plain there); -wa: dest is ours to overwrite.
        # A file saved "dirty" (it changed while dar read it) would otherwise be skipped with rc 0 under -Q,
        # as if the user had said no: restore what was saved, which the backup's warning named.
        args = ["-x", archive_path] + BASE + ["-R", dest, "-wa", "--fsa-scope", "none", "--dirty-behavior", "no-warn"]
        for path in paths:
            args += ["-g", path]
        if not restore_owner:
            args.append("-O")
        return args

    def extract_one(self, archive_path, relpath, dest, restore_owner):
        """Extract exactly one path; the caller judges the result."""
        return self._run(self._extract_args(archive_path, dest, [relpath], restore_owner))

    def _judge(self, result, phase, what):
        if result.rc == 0:
            return None
        if result.rc in DAR_WARNING_CODES:
            warning = "%s finished with rc %d: %s" % (what, result.rc, meaning(result.rc))
            named = problem_lines(result.stdout)
            if named:
                warning += "; dar said: " + "; ".join(named[:PROBLEM_LINES_SHOWN])
                if len(named) > PROBLEM_LINES_SHOWN:
                    warning += "; and %d more" % (len(named) - PROBLEM_LINES_SHOWN)
            return warning
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        last = detail[-1].strip() if detail else ""
        if result.timed_out:
            msg = "%s was stopped after %s s (timeout)" % (what, self.timeout)
        else:
            msg = "%s failed with rc %s: %s" % (what, result.rc, meaning(result.rc))
        if last:
            msg += " (%s)" % last
        raise result.error(msg, phase)


PROBLEM_LINES_SHOWN = 10


def problem_lines(stdout):
    """dar's own lines about single files (unreadable, changed while read), printed before its summary."""
    lines = []
    for line in stdout.splitlines():
        text = line.strip()
        if text.startswith("---"):
            break
        if text and not text.startswith("[... "):
            lines.append(text)
    return lines


_NOT_RESTORED_RE = re.compile(r"^(.+) not restored \((.*)\)$")
_FAILED_TO_RESTORE_RE = re.compile(r"^\s*(\d+) inode\(s\) failed to restore")


def not_restored(result):
    """dar's lines about files an extraction left out or could not write, whatever its exit code.

    Under -Q dar answers its own questions "no" (no space left, overwrite a file it finds there, ...) and logs
    "<path> not restored (user choice)" with rc 0; its summary counts filesystem errors separately."""
    lines = []
    for line in (result.stdout or "").splitlines() + (result.stderr or "").splitlines():
        text = line.strip()
        match = _NOT_RESTORED_RE.match(text)
        if match and not re.match(r"^\d+ inode\(s\)$", match.group(1)):
            lines.append(text)
            continue
        failed = _FAILED_TO_RESTORE_RE.match(line)
        if failed and int(failed.group(1)):
            lines.append(text)
    return lines


def slices_written(directory, basename):
    """Slice files dar wrote for ``basename`` in ``directory``, by number."""
    found = []
    prefix = basename + "."
    for entry in os.listdir(directory):
        if entry.startswith(prefix) and entry.endswith(".dar"):
            middle = entry[len(prefix):-4]
            if middle.isdigit():
                found.append((int(middle), os.path.join(directory, entry)))
    return sorted(found)


# ---------------------------------------------------------------------------------------------------------
# The XML listing. dar escapes & " ' < > in names but writes tab and newline raw, which an XML parser would
# turn into spaces, so the few tags dar writes are read with a small tokenizer instead (no DTD, no entities
# beyond the five and numeric references: nothing to expand from outside).

_TAG_RE = re.compile(r'<(/?)([A-Za-z]+)((?:\s+[A-Za-z_]+="[^"]*")*)\s*(/?)>')
_ATTR_RE = re.compile(r'([A-Za-z_]+)="([^"]*)"')
_ENTITY_RE = re.compile(r"&(#[0-9]+|#x[0-9A-Fa-f]+|amp|lt|gt|quot|apos);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_UNITS = {"o": 1, "kio": 1024, "Mio": 1024 ** 2, "Gio": 1024 ** 3, "Tio": 1024 ** 4, "Pio": 1024 ** 5}


def _unescape(text):
    def replace(match):
        token = match.group(1)
        if token.startswith("#x"):
            return chr(int(token[2:], 16))
        if token.startswith("#"):
            return chr(int(token[1:]))
        return _ENTITIES[token]
    return _ENTITY_RE.sub(replace, text)


def parse_size(text):
    """dar's '1864409' (with -ay) or '12 kio' (rounded down to the unit) -> bytes; None when unreadable."""
    parts = (text or "").split()
    if len(parts) == 1 and parts[0].isdigit():
        return int(parts[0])
    if len(parts) != 2 or parts[1] not in _UNITS:
        return None
    try:
        return int(float(parts[0]) * _UNITS[parts[1]])
    except ValueError:
        return None


class Entry(object):
    """One entry of an archive's catalogue: its path, kind (File, Directory, Symlink, ...), size, and
    ``data``: saved (its data is in this archive), referenced (unchanged since the reference archive),
    or deleted (removed since the reference archive); ``mtime`` in whole seconds, or None; ``sparse`` and
    ``dirty`` (saved while it changed) as dar recorded them; ``linked``: one of several hard links."""

    __slots__ = ("path", "kind", "data", "size", "mtime", "sparse", "dirty", "linked")

    def __init__(self, path, kind, data, size, mtime=None, sparse=False, dirty=False, linked=False):
        self.path = path
        self.kind = kind
        self.data = data
        self.size = size
        self.mtime = mtime
        self.sparse = sparse
        self.dirty = dirty
        self.linked = linked

    def __repr__(self):
        return "Entry(%r, %s, %s)" % (self.path, self.kind, self.data)


def iter_entries(xml_text):
    """Yield an Entry for every file, directory, link or special file of a dar XML listing."""
    stack = []
    pending = None  # the entry whose <Attributes> comes next
    for match in _TAG_RE.finditer(xml_text):
        closing, tag, attr_text, selfclosing = match.groups()
        if tag == "Catalog":
            continue
        if tag == "Attributes":
            if pending is not None:
                attrs = dict((k, _unescape(v)) for k, v in _ATTR_RE.findall(attr_text))
                pending.data = attrs.get("data", "")
                mtime = attrs.get("mtime", "")
                pending.mtime = int(mtime) if mtime.isdigit() else None
                # dar marks each member of a hard-linked set with a leading "*" in its permissions.
                pending.linked = attrs.get("permissions", "").startswith("*")
                yield pending
                pending = None
            continue
        if closing:
            if tag == "Directory" and stack:
                stack.pop()
            continue
        attrs = dict((k, _unescape(v)) for k, v in _ATTR_RE.findall(attr_text))
        name = attrs.get("name", "")
        pending = Entry("/".join(stack + [name]), tag, "", parse_size(attrs.get("size")),
                        sparse=attrs.get("sparse") == "yes", dirty=attrs.get("dirty") == "yes")
        if tag == "Directory" and not selfclosing:
            stack.append(name)


def iter_saved_files(xml_text):
    """Yield (relative path, size in bytes or None) for each regular file whose data this archive holds."""
    for entry in iter_entries(xml_text):
        if entry.kind == "File" and entry.data == "saved":
            yield entry.path, entry.size
