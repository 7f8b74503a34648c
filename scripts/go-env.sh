# Sourced (not run) by the scripts that build Go programs from the Go module proxy: build-kube.sh,
# build-node.sh, build-promtool.sh, install-tools.sh. One Go environment for all of them, with the module and
# build caches under $DATAMESH_CACHE, so a cache kept between CI runs holds every Go build at once.
# Defines CACHE (the cache root) and step (progress on stderr).
CACHE="${DATAMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/datamesh}"
export GOTOOLCHAIN=local
export GOFLAGS="-mod=mod"
export GOPATH="${GOPATH:-$CACHE/gopath}"
export GOMODCACHE="${GOMODCACHE:-$CACHE/gomod}"
export GOCACHE="${GOCACHE:-$CACHE/gobuild}"
export CGO_ENABLED=0

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
