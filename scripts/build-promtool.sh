#!/usr/bin/env bash
# Builds promtool from the Go module proxy: the alert-rule tests (tests/monitoring) run `promtool check rules`
# and `promtool test rules` on the PrometheusRule the operator renders, so the rule expressions are checked by
# Prometheus' own parser and evaluator rather than by string comparison.
#
# Why from the module proxy and not Debian's `prometheus` package (installable here): bookworm ships Prometheus
# 2.42 (2023), and Prometheus 3 changed what the rules are evaluated with (range selectors are left-open, which
# moves `increase()` over a window); the package is also the whole server (19 MB download, 96 MB installed,
# its JavaScript libraries and a service). Building only cmd/promtool is one `go install`
# (github.com/prometheus/prometheus has no replace directives), cached like helm (scripts/install-tools.sh):
# measured 811 s wall / 8 CPU-minutes on a shared, loaded 2-core machine, once per version.
#
# Output: $DATAMESH_CACHE/tools/bin/promtool-<version> and a `promtool` symlink to it. Idempotent. Prints the
# bin folder on stdout (progress goes to stderr).
set -euo pipefail

# The Go module's v0.3MM.P is Prometheus v3.MM.P.
PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"
# shellcheck source=go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
BIN="$CACHE/tools/bin"


mkdir -p "$BIN"
# Two runs at once (make tools and a test run) must not both compile: the second waits and finds the binary.
exec 9>"$BIN/.promtool.lock"
flock 9

target="$BIN/promtool-$PROMETHEUS_MODULE_VERSION"
if [ -x "$target" ]; then
  step "promtool $PROMETHEUS_MODULE_VERSION already built in $BIN"
else
  command -v go >/dev/null || { echo "build-promtool.sh: needs Go to build promtool from the module proxy" >&2; exit 1; }
  step "promtool $PROMETHEUS_MODULE_VERSION: fetching modules and compiling (minutes on 2 cores the first time)"
  start=$(date +%s)
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  minor=${PROMETHEUS_MODULE_VERSION#v0.}; patch=${minor#*.}; minor=${minor%%.*}
  version="3.$(( 10#$minor - 300 )).$patch"
  ldflags="-s -w -X github.com/prometheus/common/version.Version=$version"
  ldflags+=" -X github.com/prometheus/common/version.Branch=module-proxy"
  GOBIN="$scratch" go install -trimpath -ldflags "$ldflags" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
  mv "$scratch/promtool" "$target"
  step "promtool $PROMETHEUS_MODULE_VERSION built in $(( $(date +%s) - start ))s"
fi
ln -sfn "promtool-$PROMETHEUS_MODULE_VERSION" "$BIN/promtool"
echo "$BIN"
