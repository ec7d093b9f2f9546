#!/usr/bin/env bash
# First run on a fresh machine: installs the build dependencies, builds, and starts `llmgw dev`
# (in-process Kafka, SQLite ledger, echo provider) on http://127.0.0.1:8080. Ctrl-C stops it. Arguments go
# to `llmgw dev`: `bash scripts/dev.sh --simulate` adds simulated providers (README, "Simulation").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
exec ./build/llmgw dev "$@"
