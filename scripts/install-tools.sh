#!/usr/bin/env bash
# Installs the packaging tools (helm) from the Go module proxy: this project's machines reach package
# registries only, not release downloads, so helm is compiled from its module like the control plane is
# (scripts/build-kube.sh). kustomize needs nothing: `kubectl kustomize` is built into the project's kubectl.
#
# Output: $DATAMESH_CACHE/tools/bin/helm. Idempotent: a helm of the pinned version already there is kept.
# Prints the bin folder on stdout (progress goes to stderr), so callers can do
#   PATH="$(scripts/install-tools.sh):$PATH"
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# shellcheck source=go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
BIN="$CACHE/tools/bin"


mkdir -p "$BIN"

# The version is part of the file name so that bumping HELM_VERSION rebuilds; `helm` is a symlink to it.
target="$BIN/helm-$HELM_VERSION"
if [ -x "$target" ]; then
  step "helm $HELM_VERSION already built in $BIN"
else
  command -v go >/dev/null || { echo "install-tools.sh: needs Go to build helm from the module proxy" >&2; exit 1; }
  step "helm $HELM_VERSION: fetching modules and compiling (a few minutes on 2 cores the first time)"
  start=$(date +%s)
  # helm v3's go.mod has no replace directives, so `go install mod@version` works as is. It writes to
  # GOBIN; a scratch GOBIN keeps a half-built binary out of $BIN.
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  # helm's own Makefile stamps the Kubernetes version its client-go speaks (the default for `helm template`
  # and the lint deprecation checks); without it helm assumes v1.20 and refuses kubeVersion constraints.
  gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
  client_go=$(awk '$1 == "k8s.io/client-go" {print $2}' "$gomod")   # v0.MINOR.PATCH <-> Kubernetes v1.MINOR
  k8s_minor=$(echo "$client_go" | cut -d. -f2)
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in pkg/lint/rules pkg/chartutil; do
    ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s_minor"
  done
  GOBIN="$scratch" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$scratch/helm" "$target"
  step "helm $HELM_VERSION built in $(( $(date +%s) - start ))s"
fi
ln -sfn "helm-$HELM_VERSION" "$BIN/helm"
echo "$BIN"
