"""Where the OMS reports what needs a person: the log, and optionally a webhook."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Protocol

log = logging.getLogger("quant_engine.oms.alerts")


class Alerter(Protocol):
    def alert(self, subject: str, detail: str) -> None: ...


class LogAlerter:
    """Logs every alert at ERROR level."""

    def alert(self, subject: str, detail: str) -> None:
        log.error("%s: %s", subject, detail)


class WebhookAlerter:
    """Logs, then POSTs ``{"subject", "detail"}`` as JSON to ``url`` (failures are logged)."""

    def __init__(self, url: str, timeout_seconds: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("alert webhook URL must start with http:// or https://")
        self.url = url
        self.timeout_seconds = timeout_seconds

    def alert(self, subject: str, detail: str) -> None:
        log.error("%s: %s", subject, detail)
        body = json.dumps({"subject": subject, "detail": detail}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds):
                pass
        except OSError as error:
            log.error("alert webhook failed: %s", error)


class RecordingAlerter:
    """Keeps alerts in memory (tests, dry runs) and logs them."""

    def __init__(self) -> None:
        self.alerts: list[tuple[str, str]] = []

    def alert(self, subject: str, detail: str) -> None:
        log.error("%s: %s", subject, detail)
        self.alerts.append((subject, detail))
