#!/usr/bin/env bash
# The demo on the embedded defaults: local control plane and real node (already up), demo data in the local
# lake, the operator running in the background, the example mesh applied and built for real by build pods in
# containers of the project's image.
set -euo pipefail
: "${KUBECONFIG:?}" "${KUBECTL:?}" "${PY:?}"
STATE=.devcluster
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
k() { "$KUBECTL" "$@"; }

step "Applying the CRDs generated from the API models"
k apply --server-side --force-conflicts -f crds/ >/dev/null
k wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
step "Applying the ClusterRoles that domain workspaces bind (the chart ships the same file)"
k apply --server-side --force-conflicts -f charts/datamesh-operator/files/cluster-roles.yaml >/dev/null

LAKE=/var/lib/datamesh/lake   # the examples' storage locations
step "Writing the seed's bronze tables into the local lake $LAKE (datamesh demo-data)"
"$PY" -m datamesh.cli.main demo-data --out "$LAKE"
# Build pods run as uid 1000 (the image's user) and mount the lake's table folders from this host.
chown -R 1000:1000 "$LAKE"
IMAGE=$("$PY" -c 'import sys; from devcluster.cluster import State; print(State.load(__import__("pathlib").Path(sys.argv[1])).image)' "$STATE/state.json")

if [ -f "$STATE/operator.pid" ] && kill -0 "$(cat "$STATE/operator.pid")" 2>/dev/null; then
  step "Operator already running (pid $(cat "$STATE/operator.pid"))"
else
  step "Starting the operator (log: $STATE/logs/operator.log)"
  port=$("$PY" -c 'from devcluster.cluster import free_port; print(free_port())')
  metrics=$("$PY" -c 'from devcluster.cluster import free_port; print(free_port())')
  # A lab setting: the lake is a folder of this host, mounted into build pods as hostPath volumes, which Pod
  # Security admits only at level privileged (a cluster keeps the lake on PVCs or object storage instead).
  DATAMESH_BUILD_IMAGE="$IMAGE" DATAMESH_BUILD_IMAGE_PULL_POLICY=Never DATAMESH_LAKE_HOST_PATH="$LAKE" \
  DATAMESH_POD_SECURITY_LEVEL=privileged \
  setsid "$PY" -m datamesh.cli.main operator --standalone --webhook-port "$port" \
    --webhook-cert-dir "$STATE/webhook" --metrics-port "$metrics" \
    >>"$STATE/logs/operator.log" 2>&1 < /dev/null &
  echo $! > "$STATE/operator.pid"
  echo "$metrics" > "$STATE/metrics.port"
  for _ in $(seq 1 60); do
    k get validatingwebhookconfiguration datamesh.dev >/dev/null 2>&1 && break
    sleep 1
  done
fi

step "Applying the example domains, then policies and products"
k apply --server-side -f examples/domains/
k wait --for=condition=Ready domain --all --timeout=120s
k apply --server-side -f examples/policies/ -f examples/products/

step "Waiting for customer-360 to be built, checked and published (first Spark start takes a minute)"
if ! k wait --for=condition=Ready dataproduct/customer-360 -n sales --timeout=900s; then
  k get dataproduct customer-360 -n sales -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
  k get pods -n sales >&2
  echo "see $STATE/logs/operator.log and kubectl logs -n sales job/<build job>" >&2
  exit 1
fi

step "kubectl get domains,dataproducts -A"
k get domains
echo
k get dataproducts -A -o wide
echo
step "customer-360 quality checks"
k get dataproduct customer-360 -n sales \
  -o jsonpath='{range .status.checks[*]}{.name}{"\t"}{.value}{"\t(threshold "}{.threshold}{")\t"}{.passed}{"\n"}{end}'
echo
echo "Published at: $(k get dataproduct customer-360 -n sales -o jsonpath='{.status.location}')"
echo "Metrics: http://127.0.0.1:$(cat "$STATE/metrics.port")/metrics"
echo "Catalog: KUBECONFIG=$KUBECONFIG $PY -m datamesh.cli.main api --port 8080, then"
echo "         DATAMESH_API_URL=http://127.0.0.1:8080 datamesh catalog search customer  (page: /mesh?token=...)"
echo "export KUBECONFIG=$KUBECONFIG   # then: kubectl get dp -A   (stop everything with: make demo-down)"
