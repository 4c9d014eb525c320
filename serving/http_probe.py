"""Tiny HTTP helpers for readiness probes (stdlib only: they run before the gateway's stack exists)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

# Probes go to the local server only: never through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def status(url: str, method: str = "GET", timeout_s: float = 2.0) -> int | None:
    """The HTTP status of `url`, or None when nothing answers."""
    request = urllib.request.Request(url, method=method)
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def post_json(url: str, body: Any = None, timeout_s: float = 5.0) -> Any:
    data = json.dumps(body if body is not None else {}).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with _OPENER.open(request, timeout=timeout_s) as response:
        return json.loads(response.read() or b"null")
