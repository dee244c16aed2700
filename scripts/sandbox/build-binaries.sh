#!/usr/bin/env bash
# Builds the sandbox's control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl) and kwok from the Go module
# proxy, and caches them by version outside the repo.
#
# Usage: build-binaries.sh [component ...]   (default: all missing ones)
# Env:   CROSSCLOUD_CACHE (default ~/.cache/crosscloud-operator)
#        K8S_VERSION, ETCD_VERSION, KWOK_VERSION to pick other versions.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"   # the etcd that k8s.io/kubernetes v1.36.3 pins
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"   # the S3-protocol server
CACHE="${CROSSCLOUD_CACHE:-$HOME/.cache/crosscloud-operator}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

staging_version="v0${K8S_VERSION#v1}"   # v1.36.3 -> v0.36.3
k8s_bin="$CACHE/bin/kubernetes-$K8S_VERSION"
etcd_bin="$CACHE/bin/etcd-$ETCD_VERSION"
kwok_bin="$CACHE/bin/kwok-$KWOK_VERSION"
s3_bin="$CACHE/bin/versitygw-$VERSITYGW_VERSION"
work="$CACHE/build"
mkdir -p "$k8s_bin" "$etcd_bin" "$kwok_bin" "$s3_bin" "$work"

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# A wrapper module that requires k8s.io/kubernetes and replaces every staging
# module (its go.mod lists them with "=> ./staging/...") by the published v0.X.Y.
k8s_module() {
  local dir="$work/kubernetes-$K8S_VERSION"
  if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
  mkdir -p "$dir"
  log "preparing wrapper module for k8s.io/kubernetes $K8S_VERSION (staging $staging_version)"
  (
    cd "$dir"
    rm -f go.mod go.sum
    cat > go.mod <<MOD
module crosscloud.dev/sandbox/kubernetes

go 1.26.0
MOD
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
    local gomod
    gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
    # Every staging module, replaced by its published release.
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}' >> go.mod
    echo "require k8s.io/kubernetes $K8S_VERSION" >> go.mod
    # Modules named in the replace list that are not published (example code)
    # are not needed by the binaries; drop replaces the proxy refuses.
    go mod tidy -e >/dev/null 2>&1 || true
    go mod tidy
  )
  touch "$dir/.ready"
  echo "$dir"
}

build_k8s() {
  local name="$1" pkg="k8s.io/kubernetes/cmd/$1"
  [ -x "$k8s_bin/$name" ] && { log "$name $K8S_VERSION cached"; return; }
  local dir; dir="$(k8s_module)"
  log "building $name $K8S_VERSION (a few minutes on 2 cores)"
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$k8s_bin/$name.tmp" "$pkg")
  mv "$k8s_bin/$name.tmp" "$k8s_bin/$name"
  log "built $name"
}

build_etcd() {
  [ -x "$etcd_bin/etcd" ] && { log "etcd $ETCD_VERSION cached"; return; }
  local dir="$work/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  log "building etcd $ETCD_VERSION"
  (
    cd "$dir"
    rm -f go.mod go.sum
    printf 'module crosscloud.dev/sandbox/etcd\n\ngo 1.26.0\n' > go.mod
    # go.etcd.io/etcd/server/v3 has the server's main package under its etcdmain;
    # a two-line main calls it (the etcd repo's own main does the same).
    cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go mod tidy
    go build -trimpath -ldflags "-s -w" -o "$etcd_bin/etcd.tmp" .
  )
  mv "$etcd_bin/etcd.tmp" "$etcd_bin/etcd"
  log "built etcd"
}

build_kwok() {
  build_go_command kwok "$kwok_bin" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
}

build_versitygw() {
  build_go_command versitygw "$s3_bin" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" "-s -w"
}

# A main module outside the one that holds the command: "go build pkg@version"
# builds it as its own authors pinned its dependencies.
build_go_command() { # name version-dir pkg@version ldflags
  local name="$1" out="$2" pkg="$3" ldflags="$4"
  [ -x "$out/$name" ] && { log "$name cached in $out"; return; }
  log "building $name from $pkg"
  GOBIN="$out" go install -trimpath -ldflags "$ldflags" "$pkg"
  log "built $name"
}

components=("$@")
[ ${#components[@]} -eq 0 ] && components=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok versitygw)
for c in "${components[@]}"; do
  # One build of a component at a time (three sandboxes may start at once on a
  # new machine); the second waits, then finds it cached.
  exec 9>"$CACHE/bin/.build-$c.lock"
  flock 9
  case "$c" in
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    versitygw) build_versitygw ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) build_k8s "$c" ;;
    *) echo "unknown component: $c" >&2; exit 2 ;;
  esac
  exec 9>&-
done
