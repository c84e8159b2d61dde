#!/usr/bin/env bash
# The benchmark's variant (a): the steps of one verified backup as plain commands, one after another.
#
#   bench/raw-backup.sh ARCHIVE DB REDUNDANCY BLOCKS SAMPLE SRC -- DAR_CREATE_ARGS...
#
# ARCHIVE: archive base path (no slice suffix); DB: dar_manager database; REDUNDANCY: PAR2 percent;
# BLOCKS: PAR2 block count (0 = par2's default); SAMPLE: file of NUL-separated paths relative to SRC
# to extract and compare (the restore test); DAR_CREATE_ARGS: selection, compression and slicing.
set -euo pipefail
export LC_ALL=C
# As the engine runs par2: OpenMP threads sleep when idle (see plugins/module_utils/command.py).
export OMP_WAIT_POLICY=PASSIVE

archive=$1 db=$2 redundancy=$3 blocks=$4 sample=$5 src=$6
shift 6
[[ "${1:-}" == "--" ]] && shift

# dar exit 5 and 11 leave a usable archive (some files unreadable or changed while saved).
rc=0
dar -c "$archive" -N -Q -n -q "$@" || rc=$?
if (( rc != 0 && rc != 5 && rc != 11 )); then echo "dar -c failed: $rc" >&2; exit 1; fi

dar -t "$archive" -N -Q -q

# The restore test: the catalogue of saved files, then each sampled file extracted and compared.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dar -l "$archive" -N -Q -ay -Txml -as >"$work/listing.xml"
while IFS= read -r -d '' path; do
    mkdir "$work/restore"
    dar -x "$archive" -N -Q -q -R "$work/restore" -wa --fsa-scope none -g "$path"
    cmp -- "$src/$path" "$work/restore/$path"
    rm -rf "$work/restore"
done <"$sample"

# PAR2: one recovery set per slice.
block_arg=()
(( blocks > 0 )) && block_arg=("-b$blocks")
for slice in "$archive".*.dar; do
    par2 create -q -q "-r$redundancy" "${block_arg[@]}" -B "$(dirname "$slice")" -- "$slice.par2" "$slice"
done

[[ -e "$db" ]] || dar_manager -C "$db" -Q
dar_manager -B "$db" -A "$archive" -Q -ai
