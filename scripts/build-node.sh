#!/usr/bin/env bash
# Builds and installs what a real local node needs (issue 15): kubelet, kube-proxy, CoreDNS, containerd (with
# its runc shim and ctr) and a pause binary for the sandbox image; runc, the CNI plugins and iptables come from Debian.
#
# Why from the Go module proxy: this project's machines reach package registries only, and Debian's
# containerd (1.6) is older than what kubelet v1.36 expects (CRI v1 with containerd 2.x). kubelet comes from
# k8s.io/kubernetes through the same wrapper module as the control plane (scripts/build-kube.sh): its go.mod
# points the staging modules at ./staging, which a dependency cannot use, so each staging module is pinned to
# its published tag. Debian's runc (1.1.5) is used as is: crun refuses the hybrid cgroup layout of this
# machine kind, and building runc needs cgo and libseccomp.
#
# Output: $DATAMESH_CACHE/node/<k8s>-containerd-<containerd>/bin/{kubelet,kube-proxy,coredns,containerd,containerd-shim-runc-v2,
# ctr,crictl,pause}. Idempotent: binaries already built are kept. Prints the bin folder on stdout (progress goes
# to stderr).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
K8S_VERSION="${K8S_VERSION:-v1.36.3}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
CRI_TOOLS_VERSION="${CRI_TOOLS_VERSION:-v1.37.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
# shellcheck source=go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
OUT="$CACHE/node/$K8S_VERSION-containerd-$CONTAINERD_VERSION"
BIN="$OUT/bin"


# Debian packages the node uses at run time. A fresh CI machine has none of them; `command -v`/a file test
# keeps a warm machine from touching apt at all.
apt_missing=()
command -v runc >/dev/null || apt_missing+=(runc)
[ -x /usr/lib/cni/bridge ] || apt_missing+=(containernetworking-plugins)
command -v iptables >/dev/null || apt_missing+=(iptables)
command -v ip >/dev/null || apt_missing+=(iproute2)
command -v flock >/dev/null || apt_missing+=(util-linux)
if [ ${#apt_missing[@]} -gt 0 ]; then
  step "apt: installing ${apt_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One `apt-get update` only when the lists are missing: installs of several scripts must not refetch.
  ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >&2
fi

# Two runs starting at once must not build into the same temporary files: the second waits for the first
# and then finds the binaries built.
mkdir -p "$BIN" "$OUT/src"
exec 9>"$OUT/.build.lock"
flock 9

containerd_bins=(containerd containerd-shim-runc-v2 ctr)
missing=()
for c in kubelet kube-proxy "${containerd_bins[@]}" crictl coredns pause; do [ -x "$BIN/$c" ] || missing+=("$c"); done
if [ ${#missing[@]} -eq 0 ]; then
  step "node binaries (kubelet $K8S_VERSION, containerd $CONTAINERD_VERSION) already built in $BIN"
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { echo "build-node.sh: needs Go to build the node from the module proxy" >&2; exit 1; }

need_containerd=0
for c in "${containerd_bins[@]}"; do [ -x "$BIN/$c" ] || need_containerd=1; done
if [ $need_containerd -eq 1 ]; then
  step "containerd $CONTAINERD_VERSION: fetching modules"
  w="$OUT/src/containerd"; rm -rf "$w"; mkdir -p "$w"; cd "$w"
  go mod init datamesh.dev/build-containerd >/dev/null 2>&1
  printf 'package tools\n' > tools.go
  for c in "${containerd_bins[@]}"; do go get "github.com/containerd/containerd/v2/cmd/$c@$CONTAINERD_VERSION"; done
  ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
  ldflags+=" -X github.com/containerd/containerd/v2/version.Revision=module-proxy"
  for c in "${containerd_bins[@]}"; do
    [ -x "$BIN/$c" ] && continue
    step "containerd $CONTAINERD_VERSION: compiling $c"
    start=$(date +%s)
    # The graph drivers that need cgo or kernel features this machine kind lacks are left out; overlayfs
    # and native snapshotters stay.
    go build -trimpath -tags no_btrfs,no_devmapper,no_zfs -ldflags "$ldflags" -o "$BIN/$c.tmp" \
      "github.com/containerd/containerd/v2/cmd/$c"
    mv "$BIN/$c.tmp" "$BIN/$c"
    step "$c built in $(( $(date +%s) - start ))s"
  done
fi

for c in kubelet kube-proxy; do
  [ -x "$BIN/$c" ] && continue
  # Same wrapper module, version and build flags as the control plane: build-kube.sh builds it into its cache.
  DATAMESH_CACHE="$CACHE" KUBE_COMPONENTS="$c" K8S_VERSION="$K8S_VERSION" bash "$HERE/build-kube.sh" >&2
  cp "$CACHE/kube/$K8S_VERSION/bin/$c" "$BIN/$c.tmp"
  mv "$BIN/$c.tmp" "$BIN/$c"
done

if [ ! -x "$BIN/crictl" ]; then
  # crictl speaks CRI to containerd: tearing pods down through it runs the CNI DEL that frees their
  # addresses and network namespaces (ctr would only kill the processes).
  step "crictl $CRI_TOOLS_VERSION: fetching modules and compiling"
  start=$(date +%s)
  w="$OUT/src/cri-tools"; rm -rf "$w"; mkdir -p "$w"; cd "$w"
  go mod init datamesh.dev/build-crictl >/dev/null 2>&1
  printf 'package tools\n' > tools.go
  go get "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION"
  go build -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION" \
    -o "$BIN/crictl.tmp" sigs.k8s.io/cri-tools/cmd/crictl
  mv "$BIN/crictl.tmp" "$BIN/crictl"
  step "crictl built in $(( $(date +%s) - start ))s"
fi

if [ ! -x "$BIN/coredns" ]; then
  # The cluster's DNS (Service and pod names), served by the node for its pods.
  step "CoreDNS $COREDNS_VERSION: fetching modules and compiling (a large module: minutes the first time)"
  start=$(date +%s)
  w="$OUT/src/coredns"; rm -rf "$w"; mkdir -p "$w"; cd "$w"
  go mod init datamesh.dev/build-coredns >/dev/null 2>&1
  printf 'package tools\n' > tools.go
  go get "github.com/coredns/coredns@$COREDNS_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$BIN/coredns.tmp" github.com/coredns/coredns
  mv "$BIN/coredns.tmp" "$BIN/coredns"
  step "coredns built in $(( $(date +%s) - start ))s"
fi

if [ ! -x "$BIN/pause" ]; then
  # The sandbox container only has to hold the pod's namespaces and exit on TERM/INT; registry.k8s.io is
  # not reachable, so the image is made here (operator/devcluster/realnode.py wraps this binary).
  step "pause: compiling"
  w="$OUT/src/pause"; rm -rf "$w"; mkdir -p "$w"; cd "$w"
  go mod init datamesh.dev/pause >/dev/null 2>&1
  cat > main.go <<'GO'
// pause holds a pod's namespaces until it is told to stop; as PID 1 it also reaps orphans.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
GO
  go build -trimpath -ldflags "-s -w" -o "$BIN/pause.tmp" .
  mv "$BIN/pause.tmp" "$BIN/pause"
fi
step "Done: $(ls "$BIN" | tr '\n' ' ')in $BIN"
echo "$BIN"
