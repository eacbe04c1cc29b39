#!/bin/sh
# deploy/local-images.sh: make, with buildah, the two images deploy/Dockerfile starts from, out of Debian's
# and PyPI's packages, for machines that reach no container registry (the project's own; air-gapped hosts):
#
#   localhost/patchbay-base:bookworm  Debian 12 (debootstrap --variant=minbase) with python3 (3.11)
#   localhost/patchbay-uv:latest      the uv binary alone, as ghcr.io/astral-sh/uv is (from `uv` on PATH
#                                     or the uv package on PyPI)
#
# Then build with
#   buildah bud --layers -f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore \
#     --build-arg BASE_IMAGE=localhost/patchbay-base:bookworm --build-arg PYTHON=/usr/bin/python3 \
#     --build-arg UV_IMAGE=localhost/patchbay-uv:latest --build-arg SERVER=search -t patchbay-search .
#
# An image that exists already is kept (pass --force to make both again). DEBIAN_MIRROR overrides the mirror.
set -eu

force=0
[ "${1:-}" = --force ] && force=1
base=localhost/patchbay-base:bookworm
uv_image=localhost/patchbay-uv:latest
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "local-images.sh: $tool is missing: apt-get install -y --no-install-recommends buildah debootstrap" >&2
    exit 2
  }
done

exists() { [ "$force" = 0 ] && buildah inspect --type image "$1" >/dev/null 2>&1; }

if ! exists "$base"; then
  container="$(buildah from scratch)"
  trap 'buildah umount "$container" >/dev/null 2>&1 || true; buildah rm "$container" >/dev/null 2>&1 || true' EXIT
  root="$(buildah mount "$container")"
  debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$root" "$mirror" >&2
  # What a slim base image leaves out: package caches and lists, documentation.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/var/log/*.log
  buildah umount "$container" >/dev/null
  buildah config --env LANG=C.UTF-8 --cmd python3 "$container"
  buildah commit --quiet --rm "$container" "$base" >/dev/null
  trap - EXIT
  echo "local-images.sh: made $base" >&2
fi

if ! exists "$uv_image"; then
  uv_bin="$(command -v uv || true)"
  # pyenv and similar put a shell shim on PATH: the real binary is what `uv` itself reports.
  if [ -n "$uv_bin" ] && head -c 4 "$uv_bin" | grep -q '#!'; then
    uv_bin="$(python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null || true)"
  fi
  [ -n "$uv_bin" ] && [ -x "$uv_bin" ] || {
    echo "local-images.sh: no uv binary found: python3 -m pip install uv" >&2
    exit 2
  }
  container="$(buildah from scratch)"
  buildah copy --quiet --chmod 0755 "$container" "$uv_bin" /uv >/dev/null
  buildah commit --quiet --rm "$container" "$uv_image" >/dev/null
  echo "local-images.sh: made $uv_image from $uv_bin ($("$uv_bin" --version))" >&2
fi
