#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's two digest-pinned bases, made from Debian's packages on a
# machine whose Docker engine reaches no image registry:
#
#   runtime  debootstrap of bookworm (variant minbase), `docker import`ed, for
#            debian:bookworm-slim (the Dockerfile's BASE_IMAGE);
#   build    the same debootstrap plus gcc, libc6-dev and ca-certificates, with this machine's
#            Rust toolchain copied in (the version `rustc --version` prints), for
#            rust:<version>-slim-bookworm (the Dockerfile's BUILD_IMAGE); on top of it, a layer
#            with the crates Cargo.lock names, fetched here by `cargo fetch`, and cargo set
#            offline (CARGO_NET_OFFLINE): the build in the container then needs no network.
#            (This machine reaches crates.io through a proxy whose certificate only the host
#            trusts; the pinned rust image would download the crates itself.)
#
#   bash integration_tests/image/stand-ins.sh      # prints BASE_IMAGE and BUILD_IMAGE, one a line
#
# Each image is made once: an image that exists already is reused (delete it, or set
# STANDIN_REBUILD=1, to make it again). Needs root, debootstrap (apt-get install debootstrap, done
# here when missing), docker, and the Debian mirror this machine's apt uses (DEBIAN_MIRROR
# overrides it). Works under target/image-stand-ins/. What the stand-ins change against the
# pinned bases: README.md, "Docker image".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="${STANDIN_WORK:-$ROOT/target/image-stand-ins}"
SUITE=bookworm
# Bump when this script changes what it puts into an image, so cached images are not reused.
RECIPE=1

RUST_VERSION=$(rustc --version | awk '{print $2}')
RUNTIME_IMAGE="source-pipedrive-standin/debian:$SUITE-slim-r$RECIPE"
BUILD_IMAGE="source-pipedrive-standin/rust:$RUST_VERSION-slim-$SUITE-r$RECIPE"

say() { echo "stand-ins: $*" >&2; }

exists() { docker image inspect "$1" >/dev/null 2>&1 && [[ "${STANDIN_REBUILD:-0}" != 1 ]]; }

mirror() {
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then echo "$DEBIAN_MIRROR"; return; fi
  # The first non-security Debian mirror in apt's sources (deb822 `URIs:` or one-line `deb`).
  local m
  m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v '^\s*#' | grep -oE 'https?://[^ ]+' | grep -v security | head -n 1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

need_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 && return
  say "installing debootstrap"
  if ! apt-get install -y debootstrap >/dev/null 2>&1; then
    apt-get update >/dev/null
    apt-get install -y debootstrap >/dev/null
  fi
}

# debootstrap SUITE into DIR (variant minbase), with extra packages; downloads cached.
bootstrap() { # dir, include (comma list or empty)
  local dir=$1 include=$2
  rm -rf "$dir"
  mkdir -p "$WORK/debs"
  local args=(--variant=minbase --cache-dir="$WORK/debs")
  [[ -n "$include" ]] && args+=(--include="$include")
  say "debootstrap $SUITE ${include:+(+ $include) }from $(mirror) into $dir"
  if ! debootstrap "${args[@]}" "$SUITE" "$dir" "$(mirror)" >"$dir.log" 2>&1; then
    tail -n 20 "$dir.log" >&2
    echo "debootstrap failed; see $dir.log" >&2
    exit 1
  fi
  # What the slim image leaves out and the container does not need: apt's lists, caches, logs.
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/var/log/* "$dir"/tmp/*
}

import() { # dir, image, --change options...
  local dir=$1 image=$2
  shift 2
  say "docker import $image"
  tar --numeric-owner -C "$dir" -c . | docker import "$@" - "$image" >/dev/null
}

mkdir -p "$WORK"

if ! exists "$RUNTIME_IMAGE"; then
  need_debootstrap
  bootstrap "$WORK/runtime" ""
  import "$WORK/runtime" "$RUNTIME_IMAGE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]'
  rm -rf "$WORK/runtime"
else
  say "$RUNTIME_IMAGE exists; reused"
fi

if ! exists "$BUILD_IMAGE"; then
  need_debootstrap
  bootstrap "$WORK/build" "gcc,libc6-dev,ca-certificates"
  # The toolchain as rustup installed it here, without its documentation, where the official
  # rust image keeps it; cargo and rustc on PATH as in that image.
  sysroot=$(rustc --print sysroot)
  toolchain="$WORK/build/usr/local/rustup/toolchains/$(basename "$sysroot")"
  say "copying $sysroot (rustc $RUST_VERSION) into the build stand-in"
  mkdir -p "$toolchain" "$WORK/build/usr/local/cargo/bin"
  tar -C "$sysroot" --exclude=./share/doc -c . | tar -C "$toolchain" -x
  for tool in cargo rustc rustdoc; do
    ln -s "/usr/local/rustup/toolchains/$(basename "$sysroot")/bin/$tool" "$WORK/build/usr/local/cargo/bin/$tool"
  done
  import "$WORK/build" "$BUILD_IMAGE" \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV RUST_VERSION=$RUST_VERSION" \
    --change 'CMD ["bash"]'
  rm -rf "$WORK/build"
else
  say "$BUILD_IMAGE exists; reused"
fi

# The crates of this Cargo.lock, in a thin layer over the toolchain, named by the lock's hash.
LOCK_HASH=$(sha256sum "$ROOT/Cargo.lock" | cut -c1-12)
CRATES_IMAGE="$BUILD_IMAGE-crates-$LOCK_HASH"
if ! exists "$CRATES_IMAGE"; then
  say "cargo fetch --locked (Cargo.lock $LOCK_HASH) for $CRATES_IMAGE"
  home="$WORK/crates"
  rm -rf "$home"
  mkdir -p "$home"
  (cd "$ROOT" && CARGO_HOME="$home/cargo" cargo fetch --locked >&2)
  rm -rf "$home/cargo/.package-cache" "$home/cargo/.global-cache" "$home/cargo/registry/src"
  cat >"$home/Dockerfile" <<DOCKERFILE
FROM $BUILD_IMAGE
COPY cargo/registry /usr/local/cargo/registry
ENV CARGO_NET_OFFLINE=true
DOCKERFILE
  if ! docker build -q --force-rm -t "$CRATES_IMAGE" "$home" >"$WORK/crates-build.log" 2>&1; then
    tail -n 20 "$WORK/crates-build.log" >&2
    exit 1
  fi
  rm -rf "$home"
else
  say "$CRATES_IMAGE exists; reused"
fi

echo "$RUNTIME_IMAGE"
echo "$CRATES_IMAGE"
