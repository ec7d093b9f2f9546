#!/usr/bin/env bash
# Makes the base image tarball the container test imports as debian:bookworm-slim: no image registry is
# reachable from the test machines, so the base is built locally with debootstrap (minbase variant: dpkg,
# apt and essentials, as the official slim image) from the Debian mirror the host's apt already uses.
# Cached: prints the tarball's path; builds it only when missing (about 30 s and 80 MB the first time).
#   bash scripts/container-base.sh [CACHE_DIR]        (default ~/.cache/llmgw)
set -euo pipefail
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgw}
tarball="$cache/debian-bookworm-minbase.tar"
if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "container-base: debootstrap is missing (scripts/install-deps.sh)" >&2; exit 1; }
# The host's own Debian mirror (deb822 .sources or one-line .list), so the image fetches from where apt does.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$cache"
root=$(mktemp -d "$cache/debootstrap.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "container-base: debootstrap --variant=minbase bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
  { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# As the official slim image: no package cache or lists (images run apt-get update first), no docs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/tmp/* "$root"/var/log/*.log
tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
echo "$tarball"
