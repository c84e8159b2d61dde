# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's data set: the same bytes for the same size and seed, generated once and reused.

About 30 % many small text files (1-48 KiB, compressible), 45 % photo-like files (1-6 MiB of random
bytes named .jpg, which dar stores uncompressed), 25 % one large file (1 MiB blocks, alternately text
and random bytes).
"""

from __future__ import annotations

import json
import os
import random
import shutil

VERSION = 1
MTIME = 1767225600  # 2026-01-01 00:00:00 UTC: fixed, so archives of the same tree are alike
MIB = 1024 * 1024
WORDS = ("archive backup slice parity catalog restore verify differential incremental full chain "
         "host fleet timer systemd redundancy block repair checksum compression sample").split()


def text_pool(rng, size):
    words = []
    total = 0
    while total < size:
        word = rng.choice(WORDS) + rng.choice(("", "", "", "s", "ed", "ing"))
        if rng.random() < 0.05:
            word += "%d" % rng.randrange(100000)
        words.append(word)
        total += len(word) + 1
    text = " ".join(words)
    lines = [text[i:i + 78] for i in range(0, len(text), 78)]
    return ("\n".join(lines) + "\n").encode("ascii")[:size]


def _write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    os.utime(path, (MTIME, MTIME))


def generate(root, size, seed=7):
    """Make the tree under ``root`` (removed first); returns a summary dict."""
    if os.path.exists(root):
        shutil.rmtree(root)
    rng = random.Random(seed)
    pool = text_pool(rng, 4 * MIB)
    summary = {"version": VERSION, "size": size, "seed": seed, "text_files": 0, "photos": 0, "large": 0,
               "bytes": 0}
    # 1. many small text files, 200 per directory
    budget = int(size * 0.30)
    index = 0
    while budget > 0:
        directory = os.path.join(root, "docs", "d%03d" % (index // 200))
        if index % 200 == 0:
            os.makedirs(directory)
        length = min(budget, rng.randint(1024, 48 * 1024))
        start = rng.randrange(0, len(pool) - length)
        header = b"document %d\n" % index
        _write(os.path.join(directory, "note-%05d.txt" % index), header + pool[start:start + length - len(header)])
        budget -= length
        summary["bytes"] += length
        index += 1
    summary["text_files"] = index
    # 2. photo-like incompressible files
    budget = int(size * 0.45)
    index = 0
    while budget > 0:
        directory = os.path.join(root, "photos", "%04d" % (2000 + index // 50))
        if index % 50 == 0:
            os.makedirs(directory)
        length = min(budget, rng.randint(1 * MIB, 6 * MIB))
        _write(os.path.join(directory, "IMG_%05d.jpg" % index), rng.randbytes(length))
        budget -= length
        summary["bytes"] += length
        index += 1
    summary["photos"] = index
    # 3. one large file: alternating text and random MiB blocks
    length = size - summary["bytes"]
    os.makedirs(os.path.join(root, "images"))
    path = os.path.join(root, "images", "disk.img")
    with open(path, "wb") as handle:
        written = 0
        block = 0
        while written < length:
            count = min(MIB, length - written)
            if block % 2:
                handle.write(rng.randbytes(count))
            else:
                start = rng.randrange(0, len(pool) - count)
                handle.write(pool[start:start + count])
            written += count
            block += 1
    os.utime(path, (MTIME, MTIME))
    summary["large"] = length
    summary["bytes"] += length
    return summary


def ensure(root, size, seed=7):
    """The tree for (size, seed), generated only when missing or different; returns its summary."""
    stamp = root + ".json"
    try:
        with open(stamp) as handle:
            summary = json.load(handle)
        if summary.get("version") == VERSION and summary.get("size") == size and summary.get("seed") == seed \
                and os.path.isdir(root):
            return summary
    except (OSError, ValueError):
        pass
    summary = generate(root, size, seed)
    with open(stamp, "w") as handle:
        json.dump(summary, handle)
    return summary
