#!/usr/bin/env bash
# Which HTTP layer could hold llmgw's waiting clients (issue 19's memory target): libmicrohttpd as the ingress sets
# it up, libevent's evhttp, h2o (also with a 4 KiB input buffer: h2o-4k) and a minimal epoll layer, each holding
# requests as the ingress does (bench/http_hold/, bench/http_layers.py). One command:
#   bash bench/http_layers.sh
# Environment: LLMGW_BENCH_LAYERS=mhd,epoll (a subset of mhd,evhttp,h2o,h2o-4k,epoll), LLMGW_BENCH_ROUNDS (2),
# LLMGW_BENCH_WAITING (10,000 clients), LLMGW_BENCH_WAIT_S (20 s of load, at least 10). Installs the two extra
# libraries (bench only: llmgw links neither).
# Writes bench/results/http-layers-<date>.json and prints the table. Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
missing=()
for p in libevent-dev libh2o-evloop-dev util-linux; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/build.sh build >/dev/null
cmake --build build -j2 --target bench_loadgen bench_http_hold_mhd bench_http_hold_evhttp bench_http_hold_h2o \
  bench_http_hold_epoll >/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
python3 bench/http_layers.py
