#!/usr/bin/env bash
# Builds the real Kubernetes control-plane binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) from the Go module proxy, the way envtest runs them.
#
# Why a wrapper module: k8s.io/kubernetes' go.mod points its staging modules at ./staging, and those
# replace directives are ignored when it is a dependency, so we pin each staging module to its published
# tag (Kubernetes v1.N.P <-> staging v0.N.P). The list is read from the tag's own go.mod, not hard-coded.
#
# Output: $DATAMESH_CACHE/kube/<k8s-version>/bin/*. Idempotent: binaries already built are kept.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
# shellcheck source=go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
OUT="$CACHE/kube/$K8S_VERSION"
BIN="$OUT/bin"

# What to build from k8s.io/kubernetes: the control plane by default; scripts/build-node.sh asks for the kubelet.
read -r -a components <<< "${KUBE_COMPONENTS:-kube-apiserver kube-controller-manager kube-scheduler kubectl}"

# Two test runs (or a test run and `make kube`) starting at once must not build into the same temporary files:
# the second waits for the first and then finds the binaries built.
mkdir -p "$BIN"
exec 9>"$OUT/.build.lock"
flock 9

missing=()
for c in etcd "${components[@]}"; do [ -x "$BIN/$c" ] || missing+=("$c"); done
if [ ${#missing[@]} -eq 0 ]; then
  step "Kubernetes $K8S_VERSION and etcd $ETCD_VERSION already built in $BIN"
  exit 0
fi
mkdir -p "$BIN" "$OUT/src"

if [ ! -x "$BIN/etcd" ]; then
  step "etcd $ETCD_VERSION: fetching modules"
  w="$OUT/src/etcd"; rm -rf "$w"; mkdir -p "$w"; cd "$w"
  go mod init datamesh.dev/build-etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  step "etcd $ETCD_VERSION: compiling (a few minutes on 2 cores)"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
fi

need_kube=0
for c in "${components[@]}"; do [ -x "$BIN/$c" ] || need_kube=1; done
if [ $need_kube -eq 1 ]; then
  step "Kubernetes $K8S_VERSION: reading the staging module list"
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
  staging_version="v0.${K8S_VERSION#v1.}"
  w="$OUT/src/kubernetes"; rm -rf "$w"; mkdir -p "$w"; cd "$w"
  go_line=$(grep -m1 '^go ' "$gomod")
  {
    echo "module datamesh.dev/build-kubernetes"
    echo
    echo "$go_line"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > go.mod
  printf 'package tools\n' > tools.go
  step "Kubernetes $K8S_VERSION: fetching modules ($(grep -c '=> k8s.io' go.mod) staging modules pinned to $staging_version)"
  go get "k8s.io/kubernetes@$K8S_VERSION"
  major=${K8S_VERSION#v}; major=${major%%.*}
  minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  ldflags="-s -w"
  for k in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $k.gitVersion=$K8S_VERSION -X $k.gitMajor=$major -X $k.gitMinor=$minor"
    ldflags+=" -X $k.gitTreeState=clean -X $k.buildDate=1970-01-01T00:00:00Z"
  done
  i=0
  for c in "${components[@]}"; do
    i=$((i + 1))
    [ -x "$BIN/$c" ] && continue
    pkg="k8s.io/kubernetes/cmd/$c"
    [ "$c" = kubectl ] && pkg="k8s.io/kubernetes/cmd/kubectl"
    step "Kubernetes $K8S_VERSION: compiling $c ($i/${#components[@]}; the first one is the slowest)"
    start=$(date +%s)
    go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$BIN/$c.tmp" "$pkg"
    mv "$BIN/$c.tmp" "$BIN/$c"
    step "$c built in $(( $(date +%s) - start ))s"
  done
fi
step "Done: $(ls "$BIN" | tr '\n' ' ')in $BIN"
