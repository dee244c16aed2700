#!/usr/bin/env bash
# Builds the tools the tests run, from the Go module proxy (and one Python
# venv from PyPI), and caches them by version outside the repo (like
# scripts/sandbox/build-binaries.sh):
#   helm      helm.sh/helm/v4/cmd/helm                   (chart lint, template, install, upgrade)
#   promtool  github.com/prometheus/prometheus/cmd/promtool  (alert rule tests)
#   umoci     github.com/opencontainers/umoci/cmd/umoci  (the OCI image, without a daemon)
#   kueue     sigs.k8s.io/kueue/cmd/kueue                (the Kueue controller the sandbox
#             runs on its hub: scripts/sandbox/kueue.ts; about 7 minutes on 2 cores)
#   harness   test/harness/cmd/* (ours): `kstatus` (sigs.k8s.io/cli-utils'
#             kstatus over objects) and `lua-health` (Argo CD health scripts
#             in github.com/yuin/gopher-lua, the Lua VM Argo CD embeds);
#             cached by the hash of their sources.
#   python    a venv ($PYTHON_BASE -m venv) with test/python/requirements.txt
#             installed from PyPI (boto3, azure-storage-blob, azure-identity:
#             what docs/checkpoints.md's Python helper imports); cached by
#             the hash of that file and of the interpreter.
#
# Usage: build-tools.sh [tool ...]   (default: all missing ones)
# Prints nothing on stdout; `scripts/tools/tool-path.sh NAME` prints where a
# tool is (helm, promtool, umoci, kueue, kstatus, lua-health, python).
# Env:   CROSSCLOUD_CACHE (default ~/.cache/crosscloud-operator)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/tools/versions.sh
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# "go install pkg@version" builds a command with the dependencies its own
# authors pinned.
install_go() { # name pkg@version ldflags
  local name="$1" pkg="$2" ldflags="$3" out
  out="$(dirname "$(tool_path "$name")")"
  [ -x "$out/$name" ] && { log "$name cached in $out"; return; }
  mkdir -p "$out"
  log "building $name from $pkg"
  local start=$SECONDS
  GOBIN="$out.tmp" go install -trimpath -ldflags "$ldflags" "$pkg"
  mv "$out.tmp/$name" "$out/$name" && rmdir "$out.tmp"
  log "built $name in $((SECONDS - start)) s"
}

# A module whose go.mod has replace directives cannot be built with "go
# install pkg@version": build it as the main module, from a copy of its source.
build_in_module() { # name module@version package-in-module ldflags
  local name="$1" mod="$2" pkg="$3" ldflags="$4" out
  out="$(dirname "$(tool_path "$name")")"
  [ -x "$out/$name" ] && { log "$name cached in $out"; return; }
  log "building $name from $mod"
  local start=$SECONDS src work="${TOOLS_CACHE%/bin}/build/$name"
  src="$(go mod download -json "$mod" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  rm -rf "$work" && mkdir -p "$(dirname "$work")" "$out" && cp -r "$src" "$work" && chmod -R u+w "$work"
  (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name" && rm -rf "$work"
  log "built $name in $((SECONDS - start)) s"
}

build_harness() {
  local out; out="$(dirname "$(tool_path kstatus)")"
  [ -x "$out/kstatus" ] && [ -x "$out/lua-health" ] && { log "harness cached in $out"; return; }
  log "building the test harness (test/harness/cmd/*)"
  local start=$SECONDS
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  (cd test/harness && go build -trimpath -ldflags "-s -w" -o "$out.tmp/" ./cmd/...)
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "built harness in $((SECONDS - start)) s"
}

# Made in a scratch directory and renamed when complete, so a venv in the cache
# is never half installed. Only bin/python is used: the console scripts (pip,
# ...) keep the scratch path in their #! line, so run `bin/python -m pip`.
build_python_venv() {
  local out; out="$(dirname "$(dirname "$(tool_path python)")")"
  [ -x "$out/bin/python" ] && { log "python venv cached in $out"; return; }
  log "making a python venv with test/python/requirements.txt (PyPI)"
  local start=$SECONDS
  rm -rf "$out.tmp"
  "$PYTHON_BASE" -m venv "$out.tmp"
  "$out.tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --requirement test/python/requirements.txt
  mv "$out.tmp" "$out"
  log "made the python venv in $((SECONDS - start)) s"
}

tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(helm promtool umoci kueue harness python)
mkdir -p "$TOOLS_CACHE"
for t in "${tools[@]}"; do
  # One build of a tool at a time (test shards may ask for it at once); the
  # second waits, then finds it cached.
  exec 9>"$TOOLS_CACHE/.build-$t.lock"
  flock 9
  case "$t" in
    helm) install_go helm "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" \
      "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" ;;
    promtool) install_go promtool "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" "-s -w" ;;
    kueue) install_go kueue "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION" "-s -w" ;;
    umoci) build_in_module umoci "github.com/opencontainers/umoci@$UMOCI_VERSION" ./cmd/umoci "-s -w" ;;
    harness) build_harness ;;
    python) build_python_venv ;;
    *) echo "unknown tool: $t" >&2; exit 2 ;;
  esac
  exec 9>&-
done
