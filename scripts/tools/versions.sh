# Sourced by the tool scripts: the versions of the tools the tests build
# (from the Go module proxy, and a Python venv from PyPI), and where each is cached.
HELM_VERSION="${HELM_VERSION:-v4.3.1}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"   # Prometheus 3.16's Go module
UMOCI_VERSION="${UMOCI_VERSION:-v0.6.0}"
KUEUE_VERSION="${KUEUE_VERSION:-v0.17.0}"   # the Kueue controller the sandbox runs on its hub
TOOLS_CACHE="${CROSSCLOUD_CACHE:-$HOME/.cache/crosscloud-operator}/bin"
# The interpreter the Python venv is made from (python3 on PATH unless set).
PYTHON_BASE="${PYTHON_BASE:-python3}"

# The harness is cached by the hash of its sources, so an edit rebuilds it.
harness_hash() {
  (cd test/harness && find . -name '*.go' -o -name 'go.*' | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-12
}

# The Python venv is cached by the hash of test/python/requirements.txt and of
# the interpreter it is made from (a venv runs only with its own).
python_venv_hash() {
  { cat test/python/requirements.txt; "$PYTHON_BASE" -c 'import sys; print(sys.version, sys.executable)'; } |
    sha256sum | cut -c1-12
}

tool_path() { # name -> the path of its binary
  case "$1" in
    helm) echo "$TOOLS_CACHE/helm-$HELM_VERSION/helm" ;;
    promtool) echo "$TOOLS_CACHE/prometheus-$PROMETHEUS_VERSION/promtool" ;;
    umoci) echo "$TOOLS_CACHE/umoci-$UMOCI_VERSION/umoci" ;;
    kueue) echo "$TOOLS_CACHE/kueue-$KUEUE_VERSION/kueue" ;;
    # test/harness/cmd/*: Argo CD's Lua VM over health checks, and kstatus.
    lua-health|kstatus) echo "$TOOLS_CACHE/harness-$(harness_hash)/$1" ;;
    # A venv with test/python/requirements.txt installed: its interpreter.
    python) echo "$TOOLS_CACHE/python-venv-$(python_venv_hash)/bin/python" ;;
    *) echo "unknown tool: $1" >&2; return 2 ;;
  esac
}
