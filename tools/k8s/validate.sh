#!/usr/bin/env bash
# Renders k8s/base and every k8s/overlays/* with kustomize and validates the output strictly and
# offline (no cluster, no schema downloads): built-in kinds against kubernetes-validate's bundled
# schemas for Kubernetes $K8S_VERSION, GRPCRoute against the Gateway API CRD (from the
# sigs.k8s.io/gateway-api Go module), KafkaTopic against tools/k8s/schemas/*.crd.yaml; plus
# reference and Tandem policy checks (tools/k8s/validate.py). Exits non-zero on any invalid object.
#
#   tools/k8s/validate.sh                 # everything
#   tools/k8s/validate.sh k8s/overlays/dev  # some kustomizations only
#
# Installs what is missing into ${TANDEM_CACHE:-~/.cache/tandem} on the first run (needs go and
# python3, and the Go module proxy and PyPI): kustomize $KUSTOMIZE_VERSION, a venv with
# kubernetes-validate $KUBERNETES_VALIDATE_VERSION, the GRPCRoute CRD of Gateway API
# $GATEWAY_API_VERSION. Later runs use the cache and need no network.
set -euo pipefail
cd "$(dirname "$0")/../.."

KUSTOMIZE_VERSION=v5.8.0
KUBERNETES_VALIDATE_VERSION=1.37.0   # bundles schemas for Kubernetes 1.25 .. 1.37
GATEWAY_API_VERSION=v1.4.1
K8S_VERSION=${K8S_VERSION:-1.34.0}   # the cluster version the manifests must be valid for

cache=${TANDEM_CACHE:-$HOME/.cache/tandem}
kustomize=$cache/bin/kustomize
venv=$cache/k8s-venv
crd_dir=$cache/k8s-crds/gateway-api-$GATEWAY_API_VERSION
log() { echo "validate: $*" >&2; }

if ! { [ -x "$kustomize" ] && [ "$("$kustomize" version 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]; }; then
  command -v go >/dev/null || { log "go is needed to install kustomize"; exit 1; }
  log "installing kustomize $KUSTOMIZE_VERSION into $cache/bin"
  GOBIN=$cache/bin GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

stamp=$venv/.kubernetes-validate-$KUBERNETES_VALIDATE_VERSION
if [ ! -f "$stamp" ]; then
  command -v python3 >/dev/null || { log "python3 is needed for kubernetes-validate"; exit 1; }
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  touch "$stamp"
fi

grpcroute_crd=$crd_dir/gateway.networking.k8s.io_grpcroutes.yaml
if [ ! -f "$grpcroute_crd" ]; then
  command -v go >/dev/null || { log "go is needed to fetch the Gateway API CRDs"; exit 1; }
  log "fetching the Gateway API $GATEWAY_API_VERSION CRDs (Go module sigs.k8s.io/gateway-api)"
  module_dir=$(cd "$cache" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  mkdir -p "$crd_dir"
  cp "$module_dir/config/crd/standard/gateway.networking.k8s.io_grpcroutes.yaml" "$crd_dir/"
fi

crd_args=(--crd "$grpcroute_crd")
for crd in tools/k8s/schemas/*.crd.yaml; do crd_args+=(--crd "$crd"); done

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=(k8s/base)
  for overlay in k8s/overlays/*/; do targets+=("${overlay%/}"); done
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rendered=()
status=0
for target in "${targets[@]}"; do
  file=$out/${target%/}.rendered.yaml
  mkdir -p "$(dirname "$file")"
  if "$kustomize" build "$target" >"$file" 2>"$file.err"; then
    rendered+=("$file")
  else
    echo "ERROR $target: kustomize build failed:"
    sed 's/^/  /' "$file.err"
    status=1
  fi
done

if [ ${#rendered[@]} -gt 0 ]; then
  "$venv/bin/python" tools/k8s/validate.py --kubernetes-version "$K8S_VERSION" "${crd_args[@]}" \
    "${rendered[@]}" | sed "s#$out/\([^:]*\)\.rendered\.yaml#\1 (rendered)#" || status=1
fi

if [ $status -eq 0 ]; then
  echo "validate: all of ${targets[*]} valid (Kubernetes $K8S_VERSION, Gateway API $GATEWAY_API_VERSION)"
else
  echo "validate: INVALID manifests" >&2
fi
exit $status
