#!/usr/bin/env bash
# npm test: builds what is missing of the sandbox's control plane and the test
# tools; starts the shards' sandboxes in the background; lint and typecheck,
# unit tests; then the integration tests in TEST_SHARDS (default 4) shards at
# once, each against a sandbox of its own (the first is the default .sandbox
# on ports from 17000; shard i uses .sandbox-i on ports from 17000 + 1000*i),
# and beside them the sandbox's own lifecycle tests (crash recovery, clean
# shutdown) on a sandbox after the shards'; the sandboxes brought down again
# also when a test fails. Shards are balanced by scripts/test-shards.ts.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund

status=0
run() { echo; echo "==> $*"; "$@" || status=$?; }
shards="${TEST_SHARDS:-4}"
# Node's compile cache (V8 code, and TypeScript with its types stripped) for every node process of
# the run, kept with the project's cache: a test file, an operator or an agent starts with about
# half the CPU once the cache holds its modules (Node checks each entry against the source).
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${CROSSCLOUD_CACHE:-$HOME/.cache/crosscloud-operator}/node-compile-cache}"

# The environment that points a command at shard $1's sandbox.
# SANDBOX_PORT_BASE (default 17000) moves all of them, to run beside another sandbox.
port_base="${SANDBOX_PORT_BASE:-17000}"
sandbox_env() {
  if [ "$1" -eq 0 ]; then echo "SANDBOX_PORT_BASE=$port_base"; else
    echo "SANDBOX_STATE_DIR=$PWD/.sandbox-$1 SANDBOX_PORT_BASE=$((port_base + 1000 * $1))"
  fi
}

# The sandbox's control plane and the tools the tests run (helm, promtool,
# umoci, the Go test harness, a Python venv with boto3 and azure-storage-blob), built from the Go module proxy on a new machine
# and cached by version: once here, before the unit tests and the shards need them.
echo; echo "==> control plane and test tools (cached by version)"
scripts/sandbox/build-binaries.sh && scripts/tools/build-tools.sh || status=1

# The shards' sandboxes start in the background while lint, typecheck and unit tests run.
echo; echo "==> sandbox up (x$shards, in the background)"
pids=()
for ((i = 0; i < shards; i++)); do
  env $(sandbox_env "$i") npm run --silent sandbox:up > "sandbox-up-$i.log" 2>&1 & pids+=($!)
done

run npm run --silent lint
run npm run --silent typecheck
run npm run --silent test:unit

up=0
for ((i = 0; i < shards; i++)); do
  if ! wait "${pids[$i]}"; then up=1; echo "sandbox $i did not start:"; cat "sandbox-up-$i.log"; fi
done

if [ "$up" -eq 0 ]; then
  echo; echo "==> integration tests in $shards shards, and the sandbox's lifecycle beside them"
  # The lifecycle tests bring up and down a sandbox of their own, on the ports after the shards'.
  env $(sandbox_env "$shards") npm run --silent test:sandbox-lifecycle > "test-lifecycle.log" 2>&1 & lifecycle=$!
  pids=()
  for ((i = 0; i < shards; i++)); do
    mapfile -t files < <(scripts/node24.sh node scripts/test-shards.ts "$i" "$shards")
    env $(sandbox_env "$i") scripts/node24.sh node --test --test-concurrency=1 --test-reporter=spec "${files[@]}" \
      > "test-shard-$i.log" 2>&1 & pids+=($!)
  done
  for ((i = 0; i < shards; i++)); do
    shard=0; wait "${pids[$i]}" || shard=$?
    echo; echo "==> shard $i of $shards (exit $shard)"; cat "test-shard-$i.log"
    [ "$shard" -eq 0 ] || status=1
  done
  code=0; wait "$lifecycle" || code=$?
  echo; echo "==> npm run --silent test:sandbox-lifecycle (exit $code)"; cat "test-lifecycle.log"
  [ "$code" -eq 0 ] || status=1
else
  status=1
fi

echo; echo "==> sandbox down (x$shards, at once)"
pids=()
for ((i = 0; i < shards; i++)); do
  env $(sandbox_env "$i") npm run --silent sandbox:down > "sandbox-down-$i.log" 2>&1 & pids+=($!)
done
for ((i = 0; i < shards; i++)); do
  wait "${pids[$i]}" || { status=1; echo "sandbox $i did not come down:"; }
  cat "sandbox-down-$i.log"
done
exit "$status"
