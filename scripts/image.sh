#!/usr/bin/env bash
# ./dev image: the Dockerfile built for real with Debian's podman (runc), on a
# debian:12 base made from Debian's packages (debootstrap --variant=minbase
# bookworm + podman import: no image registry is needed). Both are cached:
# the base is rebuilt only when this script's base recipe changes (its hash
# is the image's label), the image only when its build context changes (its
# hash is the image's label; podman's layer cache does the rest). The image
# is in docker format: the OCI format has no HEALTHCHECK.
#
# Usage: scripts/image.sh [--quiet]    prints "image dispatch:latest <size>"
# Env: IMAGE_TAG (default localhost/dispatch:latest), DEBIAN_MIRROR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/podman_env.sh
. "$root/scripts/podman_env.sh"
IMAGE_TAG=${IMAGE_TAG:-localhost/dispatch:latest}
BASE_TAG=docker.io/library/debian:12
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "image: $*" >&2; }
die() { echo "image: $*" >&2; exit 1; }

label_of() { podman image inspect --format "{{ index .Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# The base recipe: what goes into the debian:12 base. Its hash names the build.
base_recipe() {
  cat <<RECIPE
debootstrap --variant=minbase bookworm $MIRROR
sources: bookworm bookworm-updates bookworm-security
RECIPE
}

build_base() {
  local want have t0=$SECONDS
  want=$(base_recipe | sha256sum | cut -c1-16)
  have=$(label_of "$BASE_TAG" dispatch.base-recipe)
  if [ "$have" = "$want" ]; then
    return 0
  fi
  say "building the debian:12 base with debootstrap (about 1.5 minutes)"
  local dir
  dir=$(mktemp -d /var/tmp/dispatch-base.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$dir'" RETURN
  debootstrap --variant=minbase bookworm "$dir/root" "$MIRROR" >"$dir.log" 2>&1 \
    || { tail -n 20 "$dir.log" >&2; rm -f "$dir.log"; die "debootstrap failed"; }
  rm -f "$dir.log"
  cat >"$dir/root/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
  # As in Debian's official images: no caches, no docs an image never reads.
  rm -rf "$dir/root/var/cache/apt/archives/"*.deb "$dir/root/var/lib/apt/lists/"*
  tar -C "$dir/root" --numeric-owner -c . \
    | podman import --change "LABEL dispatch.base-recipe=$want" --change 'CMD ["bash"]' - "$BASE_TAG" >/dev/null \
    || die "podman import failed"
  say "base $BASE_TAG built in $((SECONDS - t0)) s"
}

# The build context's hash: every file podman would send (.dockerignore'd
# paths excluded; the same patterns, kept in one place).
context_hash() {
  (cd "$root" && git ls-files -co --exclude-standard -z \
    | grep -zv -E '^(build[^/]*/|\.dev/|\.git)' \
    | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-16)
}

build_image() {
  local want have t0=$SECONDS
  want=$(context_hash)
  have=$(label_of "$IMAGE_TAG" dispatch.context)
  if [ "$have" = "$want" ]; then
    return 0
  fi
  local old
  old=$(podman image inspect --format '{{.Id}}' "$IMAGE_TAG" 2>/dev/null || true)
  say "building $IMAGE_TAG (podman build, runc)"
  mkdir -p "$root/.dev"
  podman build --pull=never --network=host --format docker "${PODMAN_ULIMITS[@]}" \
    --label "dispatch.context=$want" -t "$IMAGE_TAG" -f "$root/Dockerfile" "$root" \
    >"$root/.dev/image-build.log" 2>&1 \
    || { tail -n 40 "$root/.dev/image-build.log" >&2; die "podman build failed (log: .dev/image-build.log)"; }
  say "$IMAGE_TAG built in $((SECONDS - t0)) s"
  # the previous build of this tag, now untagged (its layers stay cached)
  if [ -n "$old" ] && [ "$(podman image inspect --format '{{.Id}}' "$IMAGE_TAG")" != "$old" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
}

command -v podman >/dev/null || die "podman is not installed (./dev image installs it)"
[ "$(id -u)" = 0 ] || die "needs root (rootful podman, runc; debootstrap)"
build_base
# Can this host start a container at all? Some sandboxes refuse runc's rlimit
# or namespace set-up for any image ("error setting rlimit type 7: operation
# not permitted" was seen in one); then nothing of ours can be built or run
# here: exit 77 with the runtime's own words, which the container suite
# reports as a loud skip rather than a failure of our image.
if ! probe=$(podman run --rm --network=host "${PODMAN_ULIMITS[@]}" "$BASE_TAG" true 2>&1); then
  echo "image: this host cannot start containers (podman run $BASE_TAG true): $probe" >&2
  exit 77
fi
build_image
size=$(podman image inspect --format '{{.Size}}' "$IMAGE_TAG")
echo "image $IMAGE_TAG $(numfmt --to=iec --suffix=B "$size") ($size bytes)"
