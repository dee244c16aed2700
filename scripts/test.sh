#!/usr/bin/env bash
# npm test: lint and typecheck, unit tests, then the sandbox up, the
# integration tests against it, and the sandbox down again (also when a test
# fails); last, the sandbox's own lifecycle (crash recovery, clean shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund

status=0
run() { echo; echo "==> $*"; "$@" || status=$?; }

run npm run --silent lint
run npm run --silent typecheck
run npm run --silent test:unit

echo; echo "==> sandbox up"
if npm run --silent sandbox:up; then
  run npm run --silent test:integration
else
  status=1
fi
echo; echo "==> sandbox down"
npm run --silent sandbox:down || status=1

run npm run --silent test:sandbox-lifecycle
exit "$status"
