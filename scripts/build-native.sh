#!/bin/sh
# Builds the proxy's three small addons with plain cc and Node's headers (N-API keeps them
# ABI-stable across Node versions): native/build/original_dst.node (SO_ORIGINAL_DST),
# native/build/malloc_trim.node (returns freed malloc memory to the kernel) and
# native/build/code_pages.node (lets go of the binary's start-up code pages). Linux only:
# elsewhere, or without a compiler or headers, it says so and exits 0 (the proxy then treats
# connections as not redirected and uses MESH_PROXY_INBOUND_FORWARD_ADDR, and does not trim).
# Cross-building: CC=aarch64-linux-gnu-gcc NATIVE_OUT_DIR=<dir> (test/arm64/ does).
set -eu
cd "$(dirname "$0")/.."
dir=${NATIVE_OUT_DIR:-native/build}
out="$dir/{original_dst,malloc_trim,code_pages}.node"
if [ "$(uname -s)" != Linux ]; then echo "build-native: not Linux, skipping $out" >&2; exit 0; fi
# Headers: NODE_INCLUDE_DIR, else those of the node that runs the build (next to its binary, as
# the official builds and the npm packages node-linux-* ship them), else the system's.
inc=${NODE_INCLUDE_DIR:-}
if [ -z "$inc" ]; then
  running=$(node -p process.execPath 2>/dev/null || command -v node || true)
  for d in ${running:+"$(dirname "$(dirname "$running")")/include/node"} /usr/include/node /usr/local/include/node; do
    if [ -f "$d/node_api.h" ]; then inc=$d; break; fi
  done
fi
if [ -z "$inc" ] || [ ! -f "$inc/node_api.h" ]; then
  echo "build-native: node_api.h not found (set NODE_INCLUDE_DIR); skipping $out" >&2
  exit "${BUILD_NATIVE_REQUIRED:-0}"
fi
cc=${CC:-cc}
mkdir -p "$dir"
for name in original_dst malloc_trim code_pages; do
  out=$dir/$name.node
  "$cc" -O2 -Wall -Wextra -fPIC -shared -I"$inc" -o "$out.tmp" "native/$name.c"
  mv "$out.tmp" "$out"
  echo "build-native: built $out ($cc, headers $inc)" >&2
done
