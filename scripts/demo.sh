#!/usr/bin/env bash
# The demo on the embedded defaults: local control plane (already up), CRDs, the example mesh.
set -euo pipefail
: "${KUBECONFIG:?}" "${KUBECTL:?}" "${PY:?}"
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

step "Applying the CRDs generated from the API models"
"$KUBECTL" apply --server-side -f crds/ >/dev/null
"$KUBECTL" wait --for=condition=Established --timeout=60s -f crds/ >/dev/null

step "Applying the example domains and products"
for ns in $("$PY" - <<'PY'
from datamesh.manifests import load_mesh
mesh = load_mesh(["examples"])
print(" ".join(sorted({d.namespace_name for d in mesh.domains.values()})))
PY
); do
  "$KUBECTL" create namespace "$ns" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
done
"$KUBECTL" apply --server-side -R -f examples/

step "kubectl get domains,dataproducts -A"
"$KUBECTL" get domains,dataproducts -A
echo
echo "KUBECONFIG=$KUBECONFIG  (stop everything with: make demo-down)"
