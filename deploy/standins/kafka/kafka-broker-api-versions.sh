#!/bin/bash
# Health check as the official image's tool is used: exits 0 when the broker at --bootstrap-server answers
# an ApiVersions request (v0) correctly. The real tool lives in kafka-tools, which the broker jars lack.
set -eu
server=localhost:9092
while [ $# -gt 0 ]; do
  case "$1" in --bootstrap-server) server=$2; shift 2 ;; *) shift ;; esac
done
host=${server%:*} port=${server##*:}
exec 3<>"/dev/tcp/$host/$port"
# size 12 | api_key 18 (ApiVersions) | version 0 | correlation id 0x4c474d57 | client id "hc"
printf '\x00\x00\x00\x0c\x00\x12\x00\x00\x4c\x47\x4d\x57\x00\x02hc' >&3
reply=$(timeout 5 head -c 10 <&3 | od -An -tx1 | tr -d ' \n')
# size (4 bytes) | the same correlation id | error code 0
case "$reply" in ????????4c474d570000) echo "$server (id: 1) -> ApiVersions ok" ;; *) echo "no ApiVersions answer from $server: '$reply'" >&2; exit 1 ;; esac
