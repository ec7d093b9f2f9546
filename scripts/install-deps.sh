#!/usr/bin/env bash
# Installs the Debian packages llmgw builds and tests with. Idempotent: skips apt when all are present.
set -euo pipefail
PKGS=(build-essential cmake pkg-config
      librdkafka-dev libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libpq-dev libsqlite3-dev
      libssl-dev libhiredis-dev libcmocka-dev zlib1g-dev
      postgresql redis-server maven openjdk-17-jre-headless python3-venv curl
      chromium kcat
      prometheus # Prometheus 2.42 and promtool: tests/e2e/test_prometheus.py, test_deploy.py, test_metrics.py
      docker.io docker-compose debootstrap iptables) # the container test: tests/container/run.sh
missing=()
# Node.js runs the npm openai client test; the machine image usually has it, Debian's package otherwise.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Jaeger and Helm, which only the tests use, are built from the Go module proxy by scripts/jaeger.sh and
# scripts/helm.sh (scripts/test.sh has them built, in the background, while it compiles): `llmgw dev` needs
# neither, so a newcomer's first command does not wait minutes for them.
