"""Whether this gateway process is stopping: set by the server's signal handler (gateway/server.py), read by
/ready (``request.app.state.drain``)."""

from __future__ import annotations

import time


class DrainState:
    """Since when this process is stopping (None: it is not)."""

    def __init__(self) -> None:
        self.since: float | None = None

    @property
    def draining(self) -> bool:
        return self.since is not None

    def begin(self) -> None:
        if self.since is None:
            self.since = time.monotonic()

    def reset(self) -> None:
        self.since = None
