#!/usr/bin/env python
"""Make (or change) deterministic demo data for the dar.backup demo playbook.

    demo_data.py DIR [--seed N]            make a fresh tree in DIR (which must be empty or missing)
    demo_data.py DIR [--seed N] --change   modify three files, add two, delete one, and say which

The tree is a few hundred files, about 35 MB, with the same names, contents and
modification times for the same seed on every run and every machine:

    Documents/   text files from a few hundred bytes to ~200 kB, in sub-folders
    Photos/      incompressible pseudo-random data named *.jpg, 50 kB - 2 MB
    Music/       pseudo-random *.flac / *.mp3 files
    .cache/      throw-away files the demo backup excludes
    Awkward names/  spaces, a newline, unicode, a leading dash, glob characters, quotes

Standard library only; Python 3.6+.
"""

import argparse
import os
import random
import sys

# A fixed point in time (2025-01-01 00:00:00 UTC); files get mtimes in the year before it,
# so the tree looks lived-in and is the same on every run.
BASE_TIME = 1735689600
YEAR = 365 * 24 * 3600

WORDS = (
    "archive backup catalog slice parity restore verify differential incremental full "
    "the a of and to in is it that for on with as by at from this be are was or "
    "holiday invoice garden recipe meeting budget report letter travel project notes "
    "monday tuesday friday january april october morning evening kitchen bicycle "
    "mountain river harbour library museum station ticket receipt contract tax "
    "summary draft final review approved pending urgent minutes agenda quarterly"
).split()

AWKWARD_NAMES = [
    "file with spaces.txt",
    "  leading and trailing spaces  .txt",
    "new\nline.txt",
    "tab\there.txt",
    "\u00dcn\u00efc\u00f8d\u00e9 r\u00e9sum\u00e9.txt",  # Ünïcødé résumé.txt
    "\u65e5\u672c\u8a9e\u306e\u30d5\u30a1\u30a4\u30eb.txt",  # 日本語のファイル.txt
    "\u5199\u771f \u30a2\u30eb\u30d0\u30e0.jpg",  # 写真 アルバム.jpg
    "-rf.txt",
    "--help.txt",
    "*?[x].txt",
    "[ab].txt",
    "star*.txt",
    "it's a \"quoted\" name.txt",
    "back\\slash.txt",
    "dollar $HOME and `tick`.txt",
    "semi;colon & amp | pipe.txt",
    "percent %s %d.txt",
    "emoji \U0001f4be backup.txt",
    ".hidden file.txt",
    "#hash~.txt",
]


def words(rng, size):
    """Return about `size` bytes of line-wrapped pseudo-text."""
    out = []
    line = []
    length = 0
    total = 0
    while total < size:
        w = rng.choice(WORDS)
        line.append(w)
        length += len(w) + 1
        if length > 70:
            text = " ".join(line) + "\n"
            out.append(text)
            total += len(text)
            line = []
            length = 0
    if line:
        out.append(" ".join(line) + "\n")
    return "".join(out)[:size].encode("utf-8")


def noise(rng, size):
    """Return `size` incompressible pseudo-random bytes (deterministic for the rng state)."""
    return rng.getrandbits(size * 8).to_bytes(size, "little") if size else b""


def write(root, rel, data, mtime):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, (mtime, mtime))
    return len(data)


def plan(seed):
    """Yield (relative path, kind, size) for the whole tree, in a fixed order."""
    rng = random.Random(seed)
    docs_dirs = ["Documents", "Documents/letters", "Documents/reports/2023", "Documents/reports/2024",
                 "Documents/recipes", "Documents/notes", "Documents/My Projects/dar demo"]
    for i in range(180):
        d = docs_dirs[i % len(docs_dirs)]
        # mostly small, a few large: log-uniform between 200 B and 200 kB
        size = int(200 * (1000 ** rng.random()))
        ext = rng.choice([".txt", ".txt", ".md", ".csv", ".log"])
        yield "%s/doc-%03d%s" % (d, i, ext), "text", size
    yield "Documents/empty.txt", "text", 0
    for i in range(18):
        album = ["Photos/2023 Summer", "Photos/2024 Winter", "Photos/Family"][i % 3]
        size = rng.randint(50 * 1024, 2 * 1024 * 1024)
        yield "%s/IMG_%04d.jpg" % (album, 1000 + i), "noise", size
    for i in range(12):
        artist = ["Music/The Slices", "Music/Parity Bits"][i % 2]
        ext = ".flac" if i % 3 == 0 else ".mp3"
        size = rng.randint(100 * 1024, 600 * 1024)
        yield "%s/%02d - Track %d%s" % (artist, i + 1, i + 1, ext), "noise", size
    for i in range(60):
        size = rng.randint(1024, 64 * 1024)
        yield ".cache/thumbnails/%02x/%08x.bin" % (i % 16, rng.getrandbits(32)), "noise", size
    for name in AWKWARD_NAMES:
        kind = "noise" if name.endswith(".jpg") else "text"
        yield "Awkward names/" + name, kind, rng.randint(100, 8 * 1024)
    yield "README.txt", "text", 1500


def generate(root, seed):
    if os.path.isdir(root) and os.listdir(root):
        sys.exit("demo_data.py: %s exists and is not empty; remove it first" % root)
    os.makedirs(root, exist_ok=True)
    content_rng = random.Random(seed * 7919 + 1)
    count = 0
    total = 0
    per_top = {}
    for rel, kind, size in plan(seed):
        data = words(content_rng, size) if kind == "text" else noise(content_rng, size)
        mtime = BASE_TIME - content_rng.randint(3600, YEAR)
        total += write(root, rel, data, mtime)
        count += 1
        top = rel.split("/", 1)[0]
        files, nbytes = per_top.get(top, (0, 0))
        per_top[top] = (files + 1, nbytes + len(data))
    os.makedirs(os.path.join(root, "Documents", "empty folder"), exist_ok=True)
    print("created %d files, %.1f MB, in %s (seed %d)" % (count, total / 1e6, root, seed))
    for top in sorted(per_top):
        files, nbytes = per_top[top]
        label = top if "." in top[1:] else top + "/"
        print("  %-16s %4d files %8.1f MB" % (label, files, nbytes / 1e6))


def change(root, seed):
    """Deterministic edits: modify three files, add two, delete one. Prints each change."""
    if not os.path.isdir(os.path.join(root, "Documents")):
        sys.exit("demo_data.py: %s has no demo data; make it first (without --change)" % root)
    rng = random.Random(seed * 104729 + 2)
    changes = []

    # 1. append a paragraph to a text document
    rel = "Documents/letters/doc-001.txt"
    path = os.path.join(root, rel)
    with open(path, "ab") as fh:
        fh.write(b"\nP.S. " + words(rng, 400))
    changes.append(("modified", rel, "appended a paragraph"))

    # 2. rewrite the middle of a photo (same size, different bytes)
    photos = sorted(p for p, _kind, _data in plan(seed) if p.startswith("Photos/"))
    rel = photos[0]
    path = os.path.join(root, rel)
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(noise(rng, min(4096, size - size // 2)))
    changes.append(("modified", rel, "4 kB rewritten in the middle, same size"))

    # 3. replace a file with an awkward name
    rel = "Awkward names/\u00dcn\u00efc\u00f8d\u00e9 r\u00e9sum\u00e9.txt"
    with open(os.path.join(root, rel), "wb") as fh:
        fh.write(words(rng, 2000))
    changes.append(("modified", rel, "replaced the contents"))

    # 4. two new files
    for rel, data in (("Documents/notes/new note after the full backup.txt", words(rng, 3000)),
                      ("Photos/2024 Winter/IMG_2000.jpg", noise(rng, 300 * 1024))):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        changes.append(("added", rel, "%d bytes" % len(data)))

    # 5. one deletion
    rel = sorted(p for p, _kind, _data in plan(seed) if p.startswith("Music/"))[-1]
    try:
        os.remove(os.path.join(root, rel))
        changes.append(("deleted", rel, ""))
    except FileNotFoundError:
        changes.append(("deleted", rel, "already gone"))

    for what, rel, detail in changes:
        shown = rel.encode("unicode_escape").decode("ascii") if "\n" in rel else rel
        print("%-8s %s%s" % (what, shown, " (%s)" % detail if detail else ""))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make or change deterministic demo data for dar.backup.")
    parser.add_argument("dir", help="directory to fill (must be empty or missing) or to change")
    parser.add_argument("--seed", type=int, default=42, help="seed for names, sizes and contents (default 42)")
    parser.add_argument("--change", action="store_true",
                        help="modify three files, add two, delete one (for a DIFF after the FULL)")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.dir)
    if args.change:
        change(root, args.seed)
    else:
        generate(root, args.seed)


if __name__ == "__main__":
    main()
