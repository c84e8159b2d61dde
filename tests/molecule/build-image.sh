#!/usr/bin/env bash
# Build the systemd base image the Molecule scenarios run in, once.
#
#   tests/molecule/build-image.sh [--rebuild]
#
# No container registry is reachable, so the image is made locally: a minimal
# Debian root filesystem from debootstrap (systemd, python3, dbus), imported
# with `podman import` as $DAR_BACKUP_IMAGE with /sbin/init as its command.
# When podman already has the image, nothing is built (use --rebuild, or
# `podman rmi` it, to start over). The root filesystem is made in a temp dir
# under /var/tmp and removed afterwards; the image lives in podman's storage
# (/var/lib/containers), never in the checkout.
#
# Inside the image apt points at the mirror this host uses, so roles can
# `apt-get install dar par2` in the containers.
#
# The script also writes the podman configuration the scenarios use,
# .cache/molecule/containers.conf (git-ignored): tests/molecule/containers.conf
# with its nofile/nproc ulimits lowered to this machine's hard limits when those
# are lower. `make molecule` points CONTAINERS_CONF at it; see docs/molecule.md.
#
# Environment: DAR_BACKUP_IMAGE (default localhost/dar-backup-systemd:bookworm),
# DAR_BACKUP_SUITE (default bookworm), DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR
# (default: taken from this host's apt sources, else deb.debian.org).
# Runs as root (debootstrap and rootful podman).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
image=${DAR_BACKUP_IMAGE:-localhost/dar-backup-systemd:bookworm}
suite=${DAR_BACKUP_SUITE:-bookworm}
conf_src="$repo_root/tests/molecule/containers.conf"
conf_out="$repo_root/.cache/molecule/containers.conf"

rebuild=false
case "${1:-}" in
    "") ;;
    --rebuild) rebuild=true ;;
    *) echo "usage: $0 [--rebuild]" >&2; exit 2 ;;
esac

log() { printf 'build-image: %s\n' "$*"; }
die() { printf 'build-image: %s\n' "$*" >&2; exit 1; }

# --- 1. the podman configuration ---------------------------------------------
# $1: the value in the template, $2: the hard limit (a number or "unlimited").
clamp() {
    if [[ "$2" =~ ^[0-9]+$ ]] && (( $2 < $1 )); then echo "$2"; else echo "$1"; fi
}
tmpl_nofile=$(sed -n 's/.*"nofile=\([0-9]*\):.*/\1/p' "$conf_src")
tmpl_nproc=$(sed -n 's/.*"nproc=\([0-9]*\):.*/\1/p' "$conf_src")
[[ -n "$tmpl_nofile" && -n "$tmpl_nproc" ]] \
    || die "cannot read the nofile/nproc ulimits from $conf_src"
nofile=$(clamp "$tmpl_nofile" "$(ulimit -Hn)")
nproc=$(clamp "$tmpl_nproc" "$(ulimit -Hu)")
mkdir -p "$(dirname "$conf_out")"
sed -e "s/\"nofile=[0-9]*:[0-9]*\"/\"nofile=$nofile:$nofile\"/" \
    -e "s/\"nproc=[0-9]*:[0-9]*\"/\"nproc=$nproc:$nproc\"/" \
    "$conf_src" > "$conf_out.tmp"
mv "$conf_out.tmp" "$conf_out"
log "wrote $conf_out (nofile=$nofile, nproc=$nproc)"
export CONTAINERS_CONF="$conf_out"

# --- 2. the image --------------------------------------------------------------
command -v podman >/dev/null || die "podman not found; run 'make system-packages'"

# One build at a time (two scenarios or two checkouts starting together).
lock_dir=/var/tmp/dar-backup-molecule
mkdir -p "$lock_dir"
exec 9>"$lock_dir/build-image.lock"
flock 9

if podman image exists "$image"; then
    if ! $rebuild; then
        log "$image exists; nothing to build (--rebuild to rebuild)"
        exit 0
    fi
    log "removing $image (--rebuild)"
    podman rmi --force "$image" >/dev/null
fi

command -v debootstrap >/dev/null || die "debootstrap not found; run 'make system-packages'"
[[ $(id -u) -eq 0 ]] || die "debootstrap needs root"

# First URI of an enabled "deb" source for suite $1 in this host's apt
# configuration (one-line .list files and deb822 .sources files).
host_mirror() {
    local want=$1 f
    shopt -s nullglob
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        awk -v want="$want" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == want) { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        awk -v want="$want" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && uri != "" \
                    && (" " suites " ") ~ (" " want " ")) { print uri; found = 1 }
                types = ""; suites = ""; uri = ""; enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            tolower($1) == "types:"   { $1 = ""; types = substr($0, 2) }
            tolower($1) == "suites:"  { $1 = ""; suites = substr($0, 2) }
            tolower($1) == "uris:"    { uri = $2 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { if (!found) flush() }' "$f"
    done
    shopt -u nullglob
}
mirror=${DEBIAN_MIRROR:-$(host_mirror "$suite" | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-$(host_mirror "$suite-security" | head -n1)}
security=${security:-http://deb.debian.org/debian-security}

work=$(mktemp -d /var/tmp/dar-backup-rootfs.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
rootfs="$work/rootfs"

log "debootstrap $suite from $mirror into $rootfs"
start=$SECONDS
# python3-apt: ansible's apt module would otherwise install it on first use.
debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates \
    "$suite" "$rootfs" "$mirror"

# apt sources: the host's mirrors, deb822 format.
rm -f "$rootfs/etc/apt/sources.list"
cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# The image may be used long after it was built, and mirrors may serve
# snapshots whose Release files have expired: do not reject those. Keep the
# host's apt proxy, if it has one.
{
    echo '// dar.backup test image (tests/molecule/build-image.sh)'
    echo 'Acquire::Check-Valid-Until "false";'
    apt-config dump 2>/dev/null | grep -E '^Acquire::(http|https)::Proxy ' || true
} > "$rootfs/etc/apt/apt.conf.d/99dar-backup-test"
# Small image, no stale package lists.
rm -f "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*_Packages
# Each container gets its own machine id from systemd at boot.
: > "$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"

log "importing $image"
tar --numeric-owner -C "$rootfs" -c . \
    | podman import --change 'CMD ["/sbin/init"]' \
        --message "dar.backup molecule base ($suite, $(date -u +%Y-%m-%dT%H:%M:%SZ))" \
        - "$image" >/dev/null
log "built $image in $((SECONDS - start)) s"
