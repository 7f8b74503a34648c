#!/usr/bin/env bash
# Builds the project's image (the repository's Dockerfile) with buildah, from a Debian bookworm base made here
# with mmdebstrap: no registry is reachable from this project's machines, so `python:3.11-slim-bookworm` cannot
# be pulled. The Dockerfile's `PYTHON_IMAGE` build argument swaps the base; elsewhere users keep the default.
#
#   scripts/build-image.sh            base + project image; prints the image's OCI archive path on stdout
#   scripts/build-image.sh base       only the base (also the tiny image the real-node smoke test runs)
#
# Host configuration reaches the build, never the image: the host's apt sources are mounted over the build
# container's (bookworm's own deb.debian.org file is what the image keeps), and pip gets the host's
# pip.conf and the CA file it names through read-only mounts.
#
# Output ($DATAMESH_CACHE/image/): base-<hash>.tar (rootfs), base-<hash>.oci.tar, datamesh-operator-<hash>.oci.tar,
# each keyed by what it is made from, so a warm run only checks hashes. Images are also kept in podman's
# storage as localhost/datamesh-base:bookworm and localhost/datamesh-operator:dev.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DATAMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/datamesh}"
OUT="$CACHE/image"
BASE_IMAGE="${BASE_IMAGE:-localhost/datamesh-base:bookworm}"
IMAGE="${IMAGE:-localhost/datamesh-operator:dev}"
# What the Dockerfile needs from its base: `python` (python-is-python3), `python -m venv` (python3-venv),
# apt over HTTPS-free Debian mirrors, and CA certificates for pip.
BASE_PACKAGES="python3,python3-venv,python-is-python3,ca-certificates"
what="${1:-all}"

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_missing=()
for tool in buildah podman mmdebstrap; do command -v "$tool" >/dev/null || apt_missing+=("$tool"); done
command -v runc >/dev/null || apt_missing+=(runc)
command -v newuidmap >/dev/null || apt_missing+=(uidmap)
command -v fuse-overlayfs >/dev/null || apt_missing+=(fuse-overlayfs)
if [ ${#apt_missing[@]} -gt 0 ]; then
  step "apt: installing ${apt_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >&2
fi

mkdir -p "$OUT"
# Concurrent runs must not build into the same files; base and image have their own locks so that a run
# needing only the (cached) base does not wait for an image build.
exec 8>"$OUT/.base.lock"
flock 8

# This machine kind has no systemd, hybrid cgroups (crun refuses them: runc only) and no CAP_SYS_RESOURCE:
# containers must not ask for rlimits above the session's hard limits (podman's defaults do).
conf="$OUT/containers.conf"
cat > "$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
export CONTAINERS_CONF="$conf"

# ------------------------------------------------------------------------------------------------ base
base_key=$( { echo "$BASE_PACKAGES"; echo v1; } | sha256sum | cut -c1-12)
base_oci="$OUT/base-$base_key.oci.tar"
if [ ! -s "$base_oci" ]; then
  rootfs="$OUT/base-$base_key.tar"
  step "base: mmdebstrap bookworm minbase + $BASE_PACKAGES"
  start=$(date +%s)
  # The mirror comes from the host's sources; the image keeps Debian's standard one (what
  # python:3.11-slim-bookworm has), so no host-specific file is baked in.
  sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || sources=/etc/apt/sources.list
  mmdebstrap --variant=minbase --include="$BASE_PACKAGES" \
    --customize-hook='rm -f "$1"/etc/apt/sources.list.d/0000*.sources "$1"/etc/apt/sources.list' \
    --customize-hook='printf "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n" > "$1"/etc/apt/sources.list.d/debian.sources' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$rootfs.tmp.tar" - < "$sources" >&2
  mv "$rootfs.tmp.tar" "$rootfs"
  step "base: rootfs in $(( $(date +%s) - start ))s ($(du -h "$rootfs" | cut -f1))"
  podman import --change 'CMD ["/bin/bash"]' "$rootfs" "$BASE_IMAGE" >/dev/null
  rm -f "$base_oci.tmp"
  podman save --format oci-archive -o "$base_oci.tmp" "$BASE_IMAGE" >/dev/null
  mv "$base_oci.tmp" "$base_oci"
  rm -f "$rootfs"
elif ! podman image exists "$BASE_IMAGE"; then
  # A cache kept across machines (CI) without podman's storage: the archive carries the name.
  podman load -q -i "$base_oci" >/dev/null
fi
flock -u 8
if [ "$what" = base ]; then
  echo "$base_oci"
  exit 0
fi
exec 9>"$OUT/.image.lock"
flock 9

# ------------------------------------------------------------------------------------------------ image
# Keyed by the Dockerfile, the files its context lets in and the base: anything else changing keeps the cache.
cd "$REPO"
image_key=$( {
  echo "$base_key"
  sha256sum Dockerfile .dockerignore pyproject.toml requirements/image.txt README.md scripts/container-entrypoint.sh
  find operator -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -not -path '*.egg-info*' -print0 \
    | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-12)
image_oci="$OUT/datamesh-operator-$image_key.oci.tar"
if [ -s "$image_oci" ]; then
  step "image $IMAGE already built: $image_oci"
  echo "$image_oci"
  exit 0
fi

# Host configuration the build needs, as read-only mounts. buildah 1.28 leaves an empty file in the committed
# layer wherever a mount target did not exist, so only mounts over existing paths (apt's sources folder) go
# to the final stage; the others serve the builder stage alone (see the two passes below).
apt_mounts=()
[ -d /etc/apt/sources.list.d ] && apt_mounts+=(--volume /etc/apt/sources.list.d:/etc/apt/sources.list.d:ro)
builder_mounts=()
# pip: the host's configuration and the CA bundle it names (an egress proxy may re-sign TLS).
if [ -f /etc/pip.conf ]; then
  builder_mounts+=(--volume /etc/pip.conf:/etc/pip.conf:ro)
  ca=$(sed -n 's/^[[:space:]]*cert[[:space:]]*=[[:space:]]*//p' /etc/pip.conf | head -1)
  [ -n "$ca" ] && [ -f "$ca" ] && builder_mounts+=(--volume "$ca:$ca:ro")
fi

# Debian bookworm's buildah (1.28) predates heredocs in RUN (buildah >= 1.33), which the Dockerfile uses
# once. Build from a copy where each `RUN cmd <<'TAG' ... TAG` feeds the same text to cmd's stdin through
# base64, which every buildah understands; the repository's Dockerfile stays as users build it.
dockerfile="$OUT/Dockerfile.buildah"
python3 - Dockerfile "$dockerfile" <<'PY'
import base64, re, sys
lines = open(sys.argv[1]).read().split("\n")
out, i = [], 0
while i < len(lines):
    line = lines[i]
    i += 1
    match = re.search(r"<<-?['\"]?(\w+)['\"]?", line)
    if not (line.startswith("RUN ") and match):
        out.append(line)
        continue
    command = line[4:match.start()]
    if re.search(r"&&|;|\|", command):
        sys.exit(f"Dockerfile: heredoc not on the first command of its RUN: {line}")
    body = []
    while lines[i] != match.group(1):
        body.append(lines[i])
        i += 1
    i += 1
    text = base64.b64encode(("\n".join(body) + "\n").encode()).decode()
    out.append(f"RUN echo {text} | base64 -d | {command.strip()} {line[match.end():].strip()}".rstrip())
open(sys.argv[2], "w").write("\n".join(out))
PY

# Java (Ivy fetching the Delta jars from Maven): an egress proxy that re-signs TLS needs the host's trust
# store too. The JDK reads <java.home>/lib/security/jssecacerts before cacerts, and no Debian package ships
# that file: mounting the host's store there reaches the build's JVM without touching the image's cacerts.
java_store=/etc/ssl/certs/java/cacerts
if [ -f "$java_store" ]; then
  builder_mounts+=(--volume "$java_store:/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)/lib/security/jssecacerts:ro")
fi

step "image: buildah bud $IMAGE FROM $BASE_IMAGE (cold: apt, pip ~500 MB, Ivy; minutes on 2 cores)"
start=$(date +%s)
# --uts host plus an /etc/hosts entry for the host's name: the Delta jars step starts Spark, which resolves the
# machine's own hostname (a build container's random one resolves nowhere; BuildKit adds it, buildah 1.28 not).
bud=(buildah bud --layers --network host --uts host --add-host "$(hostname):127.0.0.1" --isolation oci
     --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --build-arg "PYTHON_IMAGE=$BASE_IMAGE" -f "$dockerfile")
# Pass 1: the builder stage with pip's and Java's host configuration. Pass 2: the whole file without them;
# the builder's layers come from pass 1's cache (mounts are not part of buildah's cache key).
"${bud[@]}" "${apt_mounts[@]}" "${builder_mounts[@]}" --target builder -t "$IMAGE-builder" . >&2
"${bud[@]}" "${apt_mounts[@]}" \
  --build-arg "REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" -t "$IMAGE" . >&2
step "image: built in $(( $(date +%s) - start ))s"
# Nothing of the host's may be in the image (a mount target buildah left behind, a CA, pip's configuration).
leaks=$(podman run --rm --network none --entrypoint sh "$IMAGE" -c \
  'ls -d /etc/pip.conf /usr/lib/jvm/*/lib/security/jssecacerts /usr/local/share/ca-certificates/*.crt 2>/dev/null' \
  || true)
if [ -n "$leaks" ]; then
  echo "build-image.sh: host files leaked into $IMAGE: $leaks" >&2
  exit 1
fi
rm -f "$image_oci.tmp"
podman save --format oci-archive -o "$image_oci.tmp" "$IMAGE" >/dev/null
mv "$image_oci.tmp" "$image_oci"
# Archives of earlier code are a gigabyte each: keep only this one. The images they came from, untagged now,
# filled 30 GB of a developer's disk in a day of commits; layers of the tagged images (the cache) stay.
find "$OUT" -maxdepth 1 -name 'datamesh-operator-*.oci.tar' ! -name "$(basename "$image_oci")" -delete
podman image prune -f >/dev/null 2>&1 || true
step "image: $(du -h "$image_oci" | cut -f1) in $image_oci"
echo "$image_oci"
