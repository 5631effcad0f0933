"""Sends logs to an Estuary collector's Loki push API with python-logging-loki (JSON).

Usage: loki_handler.py <collector url> <service tag>
"""
import logging
import sys

import logging_loki


class StrictLokiHandler(logging_loki.LokiHandler):
    """Fails the script when a push is refused, instead of printing and going on."""

    def handleError(self, record):
        raise


url, service = sys.argv[1], sys.argv[2]
handler = StrictLokiHandler(
    url=f"{url}/loki/api/v1/push", tags={"service": service, "env": "test"}, version="1"
)
log = logging.getLogger("worker")
log.addHandler(handler)
log.setLevel(logging.DEBUG)
log.propagate = False
log.info("job started")
log.warning("queue deep", extra={"tags": {"queue": "emails"}})
print("sent")
