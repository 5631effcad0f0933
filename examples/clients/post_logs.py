#!/usr/bin/env python3
"""Posts log entries to an Estuary collector using only Python's standard library.

The entries follow the wire schema of the Rust layer (tracing-estuary, see
layer/README.md): one JSON object per line (NDJSON), sent gzip-compressed.

Run:   ESTUARY_URL=http://127.0.0.1:8005 python3 examples/clients/post_logs.py [service]
Prints the collector's answer, e.g. {"status":"logged","accepted":3}.
"""

import gzip
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request


def rfc3339_nanos(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, like the Rust layer (datetime stops at micros)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def entry(service: str, level: str, message: str, **fields) -> dict:
    return {
        "timestamp": rfc3339_nanos(time.time_ns()),
        "level": level,
        "service": service,
        "target": "billing.invoices",
        "message": message,
        "fields": fields,
        "span": {"name": "invoice_run", "batch": 12},
        "spans": [{"name": "invoice_run", "batch": 12}],
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def post(url: str, entries: list) -> tuple:
    body = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries)
    headers = {
        "Content-Type": "application/x-ndjson",
        "Content-Encoding": "gzip",
    }
    token = os.environ.get("ESTUARY_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"{url}/logs", data=gzip.compress(body.encode()), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:  # 4xx/5xx still carry a JSON body
        return err.code, err.read().decode()


def main() -> int:
    url = os.environ.get("ESTUARY_URL", "http://127.0.0.1:8005").rstrip("/")
    service = sys.argv[1] if len(sys.argv) > 1 else "python-client"
    entries = [
        entry(service, "INFO", "invoice run started", invoices=240),
        entry(service, "INFO", "invoice sent", invoice_id=98231, amount_cents=129900),
        entry(service, "ERROR", "payment provider refused", invoice_id=98232, code=402),
    ]
    status, text = post(url, entries)
    print(text)
    return 0 if status == 201 else 1


if __name__ == "__main__":
    sys.exit(main())
