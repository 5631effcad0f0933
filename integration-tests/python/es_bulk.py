"""Sends documents to an Estuary collector with the official elasticsearch client's bulk
helper; prints the helper's (success count, errors) as JSON.

Usage: es_bulk.py <collector url> [token]
"""
import json
import sys

from elasticsearch import Elasticsearch, helpers

url = sys.argv[1]
token = sys.argv[2] if len(sys.argv) > 2 else None
es = Elasticsearch(url, bearer_auth=token, request_timeout=10)
info = es.info()
assert info["tagline"] == "You Know, for Search", info

docs = [
    {"_index": "py-es", "_id": "a1", "_source": {"@timestamp": "2024-05-01T10:00:00.123Z", "message": "indexed", "log": {"level": "warning"}}},
    {"_op_type": "create", "_index": "ignored-index", "_source": {"service": "py-es-field", "message": "created"}},
    {"_index": "py-es", "_source": {"service": "bad/name", "message": "refused"}},
    {"_op_type": "delete", "_index": "py-es", "_id": "a1"},
]
ok, errors = helpers.bulk(es, docs, raise_on_error=False, stats_only=False)
print(json.dumps({"ok": ok, "errors": errors}))
