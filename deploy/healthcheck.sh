#!/bin/sh
# The image's HEALTHCHECK: GET /healthz on the port of the role this container runs. The role is the
# command PID 1 was started with (the image's entrypoint is llmgw itself), so one image serves every role:
#   ingress, dev        LLMGW_INGRESS_OPS_PORT when set, else the public LLMGW_PORT (both serve /healthz)
#   worker, ledger,     LLMGW_OPS_PORT (the image sets 9100; 0 turns the ops server off, and then there is
#   batch               nothing to ask: the check says so and fails rather than pretend)
# Exit 0 healthy, 1 unhealthy, as Docker wants. Needs nothing but curl, which the image carries for this.
set -u
role=$(tr '\0' '\n' </proc/1/cmdline 2>/dev/null | sed -n 2p)
case "$role" in
  ingress|dev) port=${LLMGW_INGRESS_OPS_PORT:-0}; [ "$port" != 0 ] || port=${LLMGW_PORT:-8080} ;;
  *) port=${LLMGW_OPS_PORT:-0} ;;
esac
if [ "$port" = 0 ]; then
  echo "healthcheck: role '$role' has no ops port (LLMGW_OPS_PORT=0): nothing to check" >&2
  exit 1
fi
exec curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$port/healthz"
