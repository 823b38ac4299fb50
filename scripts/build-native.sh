#!/bin/sh
# Builds the proxy's two small addons with plain cc and Node's headers (N-API keeps them
# ABI-stable across Node versions): native/build/original_dst.node (SO_ORIGINAL_DST) and
# native/build/malloc_trim.node (returns freed malloc memory to the kernel). Linux only:
# elsewhere, or without a compiler or headers, it says so and exits 0 (the proxy then treats
# connections as not redirected and uses MESH_PROXY_INBOUND_FORWARD_ADDR, and does not trim).
set -eu
cd "$(dirname "$0")/.."
out="native/build/{original_dst,malloc_trim}.node"
if [ "$(uname -s)" != Linux ]; then echo "build-native: not Linux, skipping $out" >&2; exit 0; fi
inc=${NODE_INCLUDE_DIR:-}
if [ -z "$inc" ]; then
  for d in /usr/include/node /usr/local/include/node "$(dirname "$(dirname "$(command -v node)")")/include/node"; do
    if [ -f "$d/node_api.h" ]; then inc=$d; break; fi
  done
fi
if [ -z "$inc" ] || [ ! -f "$inc/node_api.h" ]; then
  echo "build-native: node_api.h not found (set NODE_INCLUDE_DIR); skipping $out" >&2
  exit "${BUILD_NATIVE_REQUIRED:-0}"
fi
cc=${CC:-cc}
mkdir -p native/build
for name in original_dst malloc_trim; do
  out=native/build/$name.node
  "$cc" -O2 -Wall -Wextra -fPIC -shared -I"$inc" -o "$out.tmp" "native/$name.c"
  mv "$out.tmp" "$out"
  echo "build-native: built $out" >&2
done
