#!/usr/bin/env bash
# Regenerates the Helm chart's copy of the config table, deploy/helm/llmgw/files/config.env, from the
# binary (`llmgw config env`); the chart's ConfigMap is made from it. Run after adding a setting to
# common/config_table.c, next to `llmgw config docs > docs/CONFIG.md`. tests/e2e/test_helm.py fails while the
# copy is stale.
#   helm_config.sh [LLMGW_BIN]     (default: build/llmgw)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-${LLMGW_BIN:-$ROOT/build/llmgw}}"
[ -x "$BIN" ] || { echo "helm_config.sh: no llmgw binary at $BIN (bash scripts/build.sh build)" >&2; exit 1; }
OUT="$ROOT/deploy/helm/llmgw/files/config.env"
"$BIN" config env >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "helm_config.sh: wrote $OUT" >&2
