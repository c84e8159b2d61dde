#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of this checkout, offline-safe.
#
# ansible-test needs the collection at .../ansible_collections/dar/backup/ inside
# a git repository. This script copies the files git knows about (tracked and
# untracked-but-not-ignored) into such a tree in a temp dir, commits them there,
# and runs sanity with Python 3.11 from the project's .venv.
#
# ansible-test bootstraps pip in the virtual environments it creates with a
# get-pip script downloaded from ci-files.testing.ansible.com, which is not
# reachable here. A stand-in is written to ansible-test's cache path
# (~/.ansible/test/cache/get_pip_<version>.py) before the run; see
# docs/development.md.
#
# Extra arguments are passed to ansible-test (e.g. --test validate-modules).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="$repo_root/.venv"
python="$venv/bin/python3.11"
sanity_python=3.11

if [[ ! -x "$python" ]]; then
    echo "run-sanity: $python not found; run 'make setup' first" >&2
    exit 1
fi

# --- 1. the get-pip stand-in -------------------------------------------------
# The pip version ansible-test bootstraps is set in its own source; read it so a
# newer ansible-core picks the right file name.
pip_version=$("$python" - <<'PY'
import pathlib, re, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
m = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", src.read_text())
if not m:
    raise SystemExit("run-sanity: cannot find the bootstrap pip version in %s" % src)
print(m.group(1))
PY
)
cache_dir="$HOME/.ansible/test/cache"
get_pip="$cache_dir/get_pip_${pip_version//./_}.py"
marker="dar.backup offline get-pip stand-in"
stand_in=$(cat <<PY
# $marker (written by tests/sanity/run-sanity.sh).
# ansible-test runs this file in place of get-pip.py with pip's install
# arguments. ensurepip runs as a subprocess: ensurepip.bootstrap() in-process
# sets PIP_CONFIG_FILE=/dev/null, which would hide the machine's pip
# configuration (certificates, indexes) from the install below.
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel", "--no-pip"}
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY
)
# Leave a real downloaded get-pip script alone; refresh our own stand-in.
if [[ ! -e "$get_pip" ]] || { grep -q "$marker" "$get_pip" \
        && [[ "$(cat "$get_pip")" != "$stand_in" ]]; }; then
    mkdir -p "$cache_dir"
    printf '%s\n' "$stand_in" > "$get_pip"
    echo "run-sanity: wrote get-pip stand-in $get_pip"
fi

# --- 2. a copy of the checkout at ansible_collections/dar/backup -------------
work=$(mktemp -d "${TMPDIR:-/tmp}/dar-backup-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/dar/backup"
mkdir -p "$dest"

cd "$repo_root"
# Tracked and untracked-not-ignored files; skip tracked files deleted from the
# work tree.
git ls-files -z -c -o --exclude-standard --deduplicate \
    | while IFS= read -r -d '' f; do [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - \
    | tar -C "$dest" -xf -

git -C "$dest" init -q
git -C "$dest" add .
git -C "$dest" -c user.name=sanity -c user.email=sanity@localhost \
    commit -q -m "sanity snapshot" --no-verify

# --- 3. run -------------------------------------------------------------------
echo "run-sanity: ansible-test sanity in $dest"
cd "$dest"
rc=0
PATH="$venv/bin:$PATH" "$venv/bin/ansible-test" sanity --local --python "$sanity_python" \
    --requirements --color no "$@" || rc=$?

# Keep the results for inspection (tests/output is git-ignored).
if [[ -d tests/output ]]; then
    rm -rf "$repo_root/tests/output/sanity"
    mkdir -p "$repo_root/tests/output"
    cp -a tests/output "$repo_root/tests/output/sanity"
fi

if [[ $rc -eq 0 ]]; then
    echo "run-sanity: PASSED"
else
    echo "run-sanity: FAILED (rc=$rc)" >&2
fi
exit "$rc"
