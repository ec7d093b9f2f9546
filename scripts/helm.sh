#!/usr/bin/env bash
# Helm for the chart's static checks (tests/e2e/test_helm.py), built from the Go module proxy at a pinned
# version and cached like the Jaeger binary (scripts/jaeger.sh).
#   helm.sh fetch   build the pinned helm into the cache (once; about 3 minutes cold)
#   helm.sh path    print the binary's path (building it first if needed)
# Env: LLMGW_HELM_CACHE overrides the cache directory.
set -euo pipefail

HELM_VERSION=v3.22.0
CACHE="${LLMGW_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgw/helm-$HELM_VERSION}"

die() { echo "helm.sh: $*" >&2; exit 1; }

fetch() {
  if [ -f "$CACHE/.complete" ] && [ -x "$CACHE/helm" ]; then
    return 0
  fi
  [ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || die "a Go toolchain is needed to build helm $HELM_VERSION"
  mkdir -p "$CACHE"
  echo "helm.sh: building helm $HELM_VERSION into $CACHE (a few minutes the first time)" >&2
  # helm's go.mod has no replace directives, so `go install pkg@version` honours the pin and the proxy's
  # checksums directly (jaeger needs a tools module for that).
  GOBIN="$CACHE" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2 || die "building helm $HELM_VERSION failed"
  "$CACHE/helm" version >/dev/null 2>&1 || die "the built helm does not run"
  touch "$CACHE/.complete"
}

case "${1:-}" in
  fetch) fetch ;;
  path) fetch; echo "$CACHE/helm" ;;
  *) die "usage: helm.sh fetch | path" ;;
esac
