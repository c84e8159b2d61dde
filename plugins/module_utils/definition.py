# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup definition: what to save and how, given inline or as a dar DCF file."""

from __future__ import annotations

import os
import re
import shlex

from .errors import DarBackupError
from .naming import check_definition_name

COMPRESSION_LEVELS = {
    "gzip": (1, 9), "bzip2": (1, 9), "lzo": (1, 9), "xz": (1, 9), "lz4": (1, 9), "zstd": (1, 22),
}
DEFAULT_COMPRESSION = "zstd:3"
SLICE_SIZE_RE = re.compile(r"^[1-9][0-9]*[kMGTP]?$")

# Compressing these again costs CPU and gains nothing; dar-backup's darrc keeps a similar list.
ALREADY_COMPRESSED = (
    "7z", "aac", "apk", "arw", "avi", "avif", "bz2", "cr2", "cr3", "dar", "deb", "docx", "epub", "flac", "gif",
    "gpg", "gz", "heic", "heif", "iso", "jar", "jpeg", "jpg", "lz", "lz4", "lzma", "m4a", "m4v", "mkv", "mov",
    "mp3", "mp4", "mpeg", "mpg", "nef", "odp", "ods", "odt", "ogg", "opus", "png", "pptx", "rar", "rpm", "tbz2",
    "tgz", "txz", "webm", "webp", "whl", "xlsx", "xz", "zip", "zst",
)


def parse_compression(text):
    """'zstd:3' -> ('zstd', 3); 'none' -> (None, None). Fails with the accepted forms."""
    if text is None:
        return None, None
    text = text.strip()
    if text.lower() == "none":
        return None, None
    algo, _sep, level = text.partition(":")
    if algo not in COMPRESSION_LEVELS:
        raise DarBackupError(
            "unknown compression %r: use none, or one of %s, optionally with ':<level>' (e.g. zstd:3)"
            % (text, ", ".join(sorted(COMPRESSION_LEVELS))), phase="validate")
    if not level:
        return algo, None
    low, high = COMPRESSION_LEVELS[algo]
    if not level.isdigit() or not low <= int(level) <= high:
        raise DarBackupError("compression level in %r must be a number from %d to %d for %s"
                             % (text, low, high, algo), phase="validate")
    return algo, int(level)


def _relative_selection(kind, paths):
    for path in paths:
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise DarBackupError("%s path %r must be relative to root and must not contain '..'" % (kind, path),
                                 phase="validate")
    return list(paths)


def read_dcf_root(path):
    """The first -R/--fs-root of a DCF file, the way dar reads its tokens."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise DarBackupError("cannot read definition_file %s: %s" % (path, exc.strerror), phase="validate")
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            tokens = shlex.split(stripped, comments=True)
        except ValueError as exc:
            raise DarBackupError("definition_file %s line %d cannot be parsed: %s" % (path, number, exc),
                                 phase="validate")
        for index, token in enumerate(tokens):
            if token in ("-R", "--fs-root") and index + 1 < len(tokens):
                return tokens[index + 1]
            if token.startswith("--fs-root="):
                return token.split("=", 1)[1]
            if token.startswith("-R") and len(token) > 2:
                return token[2:]
    raise DarBackupError("definition_file %s has no -R <root> line; add one naming the directory to back up"
                         % path, phase="validate")


class Definition(object):
    """What to back up. Validation happens on construction so nothing runs on bad input."""

    def __init__(self, name, root=None, include=None, exclude=None, compression=None,
                 slice_size=None, definition_file=None):
        self.name = check_definition_name(name)
        self.definition_file = definition_file
        if definition_file:
            if root or include or exclude:
                raise DarBackupError("give either definition_file or inline root/include/exclude, not both",
                                     phase="validate")
            self.definition_file = os.path.abspath(definition_file)
            root = read_dcf_root(self.definition_file)
        elif not root:
            raise DarBackupError("definition %s has no root: set root (or definition_file)" % name, phase="validate")
        self.root = os.path.abspath(os.path.expanduser(root))
        if not os.path.isdir(self.root):
            raise DarBackupError("root %s of definition %s does not exist or is not a directory"
                                 % (self.root, name), phase="validate")
        self.include = _relative_selection("include", include or [])
        self.exclude = _relative_selection("exclude", exclude or [])
        # Unset means zstd:3 inline; with a DCF the file's own -z (if any) decides.
        if compression is None and not definition_file:
            compression = DEFAULT_COMPRESSION
        self.compression = compression
        self.compression_algo, self.compression_level = parse_compression(self.compression)
        if slice_size is not None and not SLICE_SIZE_RE.fullmatch(str(slice_size)):
            raise DarBackupError("slice_size %r is not a size: use a number with an optional k, M, G, T or P "
                                 "suffix, e.g. 4G" % (slice_size,), phase="validate")
        self.slice_size = str(slice_size) if slice_size is not None else None

    def create_args(self):
        """dar arguments that select and shape the archive (no action, no archive name)."""
        args = []
        if self.definition_file:
            args += ["-B", self.definition_file]
        else:
            args += ["-R", self.root]
            for path in self.include:
                args += ["-g", path]
            for path in self.exclude:
                args += ["-P", path]
        if self.compression_algo:
            spec = self.compression_algo
            if self.compression_level is not None:
                spec += ":%d" % self.compression_level
            args.append("--compression=" + spec)
            # -an: case-insensitive masks, -ag: glob masks, -acase restores the default afterwards.
            args += ["-an", "-ag"]
            for ext in ALREADY_COMPRESSED:
                args += ["-Z", "*." + ext]
            args.append("-acase")
        if self.slice_size:
            args += ["-s", self.slice_size]
        return args

    def describe(self):
        return {
            "name": self.name, "root": self.root, "include": self.include, "exclude": self.exclude,
            "compression": self.compression, "slice_size": self.slice_size,
            "definition_file": self.definition_file,
        }
