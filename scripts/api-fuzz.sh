#!/usr/bin/env bash
# Property-based fuzzing of the live `estuary` binary against its own OpenAPI document
# (schemathesis, from PyPI): no 5xx, and every response's status, content type and body
# match the document. Live streams are excluded (they never end). Bounded: EXAMPLES per
# operation (default 100), a couple of minutes at most.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${ESTUARY_BIN:-target/debug/estuary}
[ -x "$bin" ] || cargo build -q -p estuary-collector
venv=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'schemathesis>=4,<5'
fi

dir=$(mktemp -d)
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=warn "$bin" serve --port "$port" --log-dir "$dir/logs" 2>"$dir/stderr" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

"$venv/bin/python" - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.05)
sys.exit("estuary did not start")
PY

"$venv/bin/st" run "http://127.0.0.1:$port/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path-regex '.*/stream$' \
    --phases examples,coverage,fuzzing \
    -n "${EXAMPLES:-100}"

if grep -q panicked "$dir/stderr"; then
    echo "estuary panicked during the fuzz run:" >&2
    cat "$dir/stderr" >&2
    exit 1
fi
kill -0 "$pid" || { echo "estuary died during the fuzz run" >&2; exit 1; }
echo "api-fuzz: the live binary matched its OpenAPI document"
