#!/usr/bin/env bash
# Posts log entries to an Estuary collector with curl, in the same wire schema the Rust
# layer (tracing-estuary) uses: one JSON object per line (NDJSON), gzip-compressed.
#
# Run:   ESTUARY_URL=http://127.0.0.1:8005 bash examples/clients/post_logs.sh [service]
# Needs: bash, curl, gzip, date (GNU coreutils, for nanosecond timestamps).
# Prints the collector's answer, e.g. {"status":"logged","accepted":2}.
set -euo pipefail

url="${ESTUARY_URL:-http://127.0.0.1:8005}"
service="${1:-shell-client}"
# RFC 3339, UTC, nanoseconds: 2026-11-24T10:11:12.123456789Z
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
host="$(hostname)"

# Keys as documented in layer/README.md ("Wire schema"); only `service` and `message` are
# essential, the collector stamps `timestamp` when it is missing.
body="$(cat <<NDJSON
{"timestamp":"$(now)","level":"INFO","service":"$service","target":"backup","message":"backup started","fields":{"volume":"data-1","size_bytes":1073741824},"span":{"name":"nightly","run":7},"spans":[{"name":"nightly","run":7}],"host":"$host","pid":$$}
{"timestamp":"$(now)","level":"WARN","service":"$service","target":"backup","message":"slow disk","fields":{"volume":"data-1","mb_per_s":12.5,"throttled":true},"span":{"name":"nightly","run":7},"spans":[{"name":"nightly","run":7}],"host":"$host","pid":$$}
NDJSON
)"

printf '%s\n' "$body" | gzip -c | curl --silent --show-error --fail-with-body \
  -X POST "$url/logs" \
  -H 'Content-Type: application/x-ndjson' \
  -H 'Content-Encoding: gzip' \
  ${ESTUARY_TOKEN:+-H "Authorization: Bearer $ESTUARY_TOKEN"} \
  --data-binary @-
echo
