#!/bin/sh
# Builds native/build/original_dst.node (SO_ORIGINAL_DST for the proxy) with plain cc and
# Node's headers; N-API keeps it ABI-stable across Node versions. Linux only: elsewhere, or
# without a compiler or headers, it says so and exits 0 (the proxy then treats connections as
# not redirected and uses MESH_PROXY_INBOUND_FORWARD_ADDR).
set -eu
cd "$(dirname "$0")/.."
out=native/build/original_dst.node
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
"$cc" -O2 -Wall -Wextra -fPIC -shared -I"$inc" -o "$out.tmp" native/original_dst.c
mv "$out.tmp" "$out"
echo "build-native: built $out" >&2
