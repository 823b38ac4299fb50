#!/bin/sh
# Runs a command with the official build of Node <version> first on PATH (installed once from
# the npm registry by scripts/node-dist.sh), so the command and every node it starts run on it.
#   sh scripts/with-node.sh <version> <command> [args...]
set -eu
version=${1:?usage: with-node.sh <version> <command> [args...]}
shift
bin=$(sh "$(dirname "$0")/node-dist.sh" "$version")
PATH="$bin:$PATH"
export PATH
echo "with-node: $(node -v) ($bin/node)" >&2
exec "$@"
