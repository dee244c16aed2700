#!/usr/bin/env bash
# Prints the cached path of a tool built by build-tools.sh: helm, promtool,
# umoci, kueue, kstatus, lua-health or python (the tests' virtual environment),
# whether or not it is built yet.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/tools/versions.sh
tool_path "$1"
