#!/usr/bin/env bash
# Throwaway end-to-end check of the real node (issue 15), outside `make test`:
#   control plane (devcluster --no-node) -> API server rewired for kubelet logs/exec -> containerd + kubelet
#   -> a pod from the locally made bookworm base with the build pod's security context: `id`, a write to /
#   that must fail, `kubectl logs`, `kubectl exec` -> optionally (WITH_IMAGE=1) the project's image running
#   `python -m datamesh.build --help` the same way -> everything torn down, checked with ps.
# Usage: scripts/real-node-smoke.sh            (state under $RN_DIR, default /tmp/rn)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RN="${RN_DIR:-/tmp/rn}"
CLUSTER="$RN/cluster"
NODE="$RN/node"
PY="${PY:-$REPO/.venv/bin/python}"
export PYTHONPATH="$REPO/operator${PYTHONPATH:+:$PYTHONPATH}"
CACHE="${DATAMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/datamesh}"
KUBECTL="$CACHE/kube/${K8S_VERSION:-v1.36.3}/bin/kubectl"
export KUBECONFIG="$CLUSTER/kubeconfig"

step() { printf '\033[1m==> [%4ss] %s\033[0m\n' "$SECONDS" "$*" >&2; }
fail() { printf '\033[31mFAIL: %s\033[0m\n' "$*" >&2; exit 1; }

teardown() {
  local rc=$?
  step "teardown"
  "$PY" -m devcluster.realnode down --dir "$NODE" || true
  "$PY" -m devcluster down --dir "$CLUSTER" || true
  # Nothing of ours may survive: kubelet, containerd, shims, container processes, control plane.
  # Exited children of the (already exited) `up` process wait for PID 1 to reap them: give it a moment.
  local left i
  for i in $(seq 1 20); do
    left=$(ps -eo pid=,stat=,args= | grep -E "$RN/|kubelet|containerd|/pause|sleep 3600" \
      | grep -v -E "grep|real-node-smoke" || true)
    [ -z "$left" ] && break
    sleep 0.5
  done
  if [ -n "$left" ]; then
    printf 'leftover processes:\n%s\n' "$left" >&2
    rc=1
  else
    step "no process left (ps checked)"
  fi
  ip link show dmnode0 >/dev/null 2>&1 && { echo "bridge dmnode0 still there" >&2; rc=1; }
  grep -q " $RN/" /proc/mounts && { echo "mounts left under $RN" >&2; rc=1; }
  iptables-save | grep -q -E 'KUBE-|CNI-' && { echo "iptables chains left: $(iptables-save | grep -E 'KUBE-|CNI-')" >&2; rc=1; }
  ls /sys/fs/cgroup/*/kubepods >/dev/null 2>&1 && { echo "pod cgroups left" >&2; rc=1; }
  [ -e /var/log/containers ] && { echo "/var/log/containers left: $(ls /var/log/containers)" >&2; rc=1; }
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$ip_forward_before" ] || { echo "ip_forward changed" >&2; rc=1; }
  [ $rc -eq 0 ] && step "smoke test passed" || step "smoke test FAILED (rc=$rc)"
  exit $rc
}
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
trap teardown EXIT

step "node binaries"
bash "$REPO/scripts/build-node.sh" >/dev/null
step "base image (mmdebstrap)"
base_archive=$(bash "$REPO/scripts/build-image.sh" base)

step "control plane without the dev node"
"$PY" -m devcluster up --dir "$CLUSTER" --no-node
step "API server: reach kubelets by InternalIP with a client certificate (stand-in for a cluster.py change)"
"$PY" -m devcluster.realnode wire-apiserver --cluster-dir "$CLUSTER"
step "real node: containerd + kubelet"
t0=$SECONDS
"$PY" -m devcluster.realnode up --cluster-dir "$CLUSTER" --dir "$NODE"
step "node Ready in $((SECONDS - t0))s"
"$KUBECTL" get node -o wide

step "import the base image into containerd"
t0=$SECONDS
base_name=$("$PY" -m devcluster.realnode import --dir "$NODE" --image-name localhost/datamesh-base:bookworm "$base_archive")
step "imported $base_name in $((SECONDS - t0))s"

# The build pod's security context (operator/datamesh/controller/jobs.py).
pod() {  # name image command... (one line per argument)
  local name=$1 image=$2; shift 2
  local args
  args=$(printf '%s\n' "$@" | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().splitlines()))')
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: default}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    fsGroup: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: main
    image: $image
    imagePullPolicy: Never
    command: $args
    volumeMounts: [{name: tmp, mountPath: /tmp}]
    securityContext:
      runAsNonRoot: true
      runAsUser: 1000
      runAsGroup: 1000
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
      seccompProfile: {type: RuntimeDefault}
  volumes: [{name: tmp, emptyDir: {}}]
YAML
}

step "pod from the base image with the build pod's security context"
t0=$SECONDS
pod smoke "$base_name" sh -c 'id; if touch /x 2>/tmp/err; then echo "WROTE /x"; else echo "write /x refused: $(cat /tmp/err)"; fi; sleep 3600' \
  | "$KUBECTL" apply -f -
"$KUBECTL" wait --for=condition=Ready pod/smoke --timeout=180s
step "pod Running in $((SECONDS - t0))s"
"$KUBECTL" get pod smoke -o wide
sleep 1
logs=$("$KUBECTL" logs smoke)
printf 'kubectl logs smoke:\n%s\n' "$logs"
grep -q '^uid=1000 gid=1000' <<<"$logs" || fail "the pod does not run as uid 1000"
grep -q 'Read-only file system' <<<"$logs" || fail "writing /x did not fail read-only"
exec_out=$("$KUBECTL" exec smoke -- sh -c 'id; grep -E "^(Seccomp|CapEff|NoNewPrivs):" /proc/self/status; touch /y 2>&1 || true')
printf 'kubectl exec smoke:\n%s\n' "$exec_out"
grep -q '^uid=1000' <<<"$exec_out" || fail "exec does not run as uid 1000"
grep -q '^Seccomp:[[:space:]]*2' <<<"$exec_out" || fail "no seccomp filter in the container"
grep -q '^CapEff:[[:space:]]*0000000000000000' <<<"$exec_out" || fail "capabilities not dropped"
grep -q 'Read-only file system' <<<"$exec_out" || fail "exec could write to /"
"$KUBECTL" delete pod smoke --wait=true --timeout=60s

if [ "${WITH_IMAGE:-0}" = 1 ]; then
  step "project image"
  image_archive=$(bash "$REPO/scripts/build-image.sh")
  t0=$SECONDS
  image_name=$("$PY" -m devcluster.realnode import --dir "$NODE" --image-name localhost/datamesh-operator:dev "$image_archive")
  step "imported $image_name in $((SECONDS - t0))s"
  t0=$SECONDS
  pod build-like "$image_name" sh -c 'id; python -m datamesh.build --help | head -5; ls "$DATAMESH_JARS_DIR" | head -3; java -version 2>&1 | head -1' \
    | "$KUBECTL" apply -f -
  for _ in $(seq 1 300); do
    phase=$("$KUBECTL" get pod build-like -o jsonpath='{.status.phase}')
    [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
    sleep 1
  done
  step "build-like pod $phase in $((SECONDS - t0))s"
  "$KUBECTL" logs build-like
  [ "$phase" = Succeeded ] || fail "build-like pod $phase"
  "$KUBECTL" delete pod build-like --wait=true --timeout=60s

  step "Spark + Delta in a pod of the project image (baked jars, read-only root, /tmp an emptyDir)"
  t0=$SECONDS
  pod delta "$image_name" python -c 'from datamesh.build.session import create_session; s = create_session(); '\
's.range(5).write.format("delta").save("/tmp/t"); '\
'print("delta rows:", s.read.format("delta").load("/tmp/t").count()); s.stop()' | "$KUBECTL" apply -f -
  for _ in $(seq 1 300); do
    phase=$("$KUBECTL" get pod delta -o jsonpath='{.status.phase}')
    [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
    sleep 1
  done
  step "delta pod $phase in $((SECONDS - t0))s"
  "$KUBECTL" logs delta | grep -v -E '^(WARNING|[0-9]{2}/[0-9]{2}/[0-9]{2} )' | tail -20
  [ "$phase" = Succeeded ] && "$KUBECTL" logs delta | grep -q '^delta rows: 5$' || fail "delta pod $phase"
  "$KUBECTL" delete pod delta --wait=true --timeout=60s
fi
