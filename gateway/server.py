"""Running the gateway on uvicorn, and stopping it without losing a request (drain).

SIGTERM (Kubernetes stopping a pod; the launcher of `make serve` stopping its gateway):

1. at once, ``/ready`` answers 503 ("shutting down"), so Kubernetes endpoints and load balancers stop
   sending new work here;
2. for ``settings.drain_settle_s`` new connections and requests are still served: senders that have not
   noticed yet lose nothing. Every answer says ``Connection: close``, so keep-alive clients reconnect
   (through the Service, to another gateway) instead of reusing this connection;
3. then the listening socket closes (new connections are refused), idle keep-alive connections are
   closed, and the requests in flight finish;
4. whatever still runs ``settings.drain_timeout_s`` later is cancelled; the process exits 0.

SIGINT (Ctrl-C in a terminal) skips the settle time (step 3 at once). A signal during the settle time ends
it; one more after that stops at once, like uvicorn's second Ctrl-C.

With ``settings.workers`` > 1 uvicorn's own supervisor runs the workers: on SIGTERM it stops them at once,
in-flight requests still get ``drain_timeout_s`` (no settle time, no 503 from /ready first).
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from gateway.core.config import Settings
from gateway.drain import DrainState
from gateway.main import create_app

log = logging.getLogger("gateway.server")

CLOSE = (b"connection", b"close")

APP = "gateway.main:create_app"
STARTUP_FAILURE = 3  # uvicorn's exit status when the app could not start


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a settle time between SIGTERM and closing the socket, and exit status 0."""

    def __init__(self, config: uvicorn.Config, settle_s: float, drain: DrainState) -> None:
        super().__init__(config)
        self.settle_s = settle_s
        self.drain = drain
        self._settle_until: float | None = None
        self._announced = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:  # noqa: ARG002 - uvicorn's signature
        # Unlike uvicorn's, this does not raise the signal again once stopped: that would make the exit
        # status 143 (killed by SIGTERM) instead of 0. Only flags here: this runs inside a signal handler.
        self.drain.begin()
        if self.should_exit:
            self.force_exit = True
        elif sig == signal.SIGTERM and self._settle_until is None and self.settle_s > 0:
            self._settle_until = time.monotonic() + self.settle_s
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.drain.draining and not self._announced:
            self._announced = True
            if self._settle_until is not None and not self.should_exit:
                log.info(
                    "stop signal: /ready answers 503; still serving for %.1f s, then finishing what is in"
                    " flight (at most %.1f s)",
                    self.settle_s,
                    self.config.timeout_graceful_shutdown or 0,
                )
            else:
                log.info(
                    "stop signal: no new connections; finishing what is in flight (at most %.1f s)",
                    self.config.timeout_graceful_shutdown or 0,
                )
        if self._settle_until is not None and time.monotonic() >= self._settle_until:
            self.should_exit = True
        should_exit = await super().on_tick(counter)  # it renews the default headers every second
        if self.drain.draining and CLOSE not in self.server_state.default_headers:
            self.server_state.default_headers = [*self.server_state.default_headers, CLOSE]
        return should_exit


def uvicorn_config(settings: Settings, host: str, port: int, log_level: str, app: Any = APP) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=host,
        port=port,
        log_level=log_level,
        workers=settings.workers,
        timeout_graceful_shutdown=settings.drain_timeout_s,  # type: ignore[arg-type]  # seconds, float is fine
    )


def serve(settings: Settings, host: str, port: int, log_level: str) -> int:
    """Serve until stopped; the process's exit status (0 after a stop signal, 3 if the app did not start)."""
    if settings.workers > 1:  # uvicorn's workers import the app themselves (no settle time: module docstring)
        config = uvicorn_config(settings, host, port, log_level)
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    drain = DrainState()  # the server's signal handler sets it; the app's /ready reads it (app.state.drain)
    app = create_app(settings, drain=drain)
    server = DrainingServer(
        uvicorn_config(settings, host, port, log_level, app), settle_s=settings.drain_settle_s, drain=drain
    )
    server.run()
    return 0 if server.started else STARTUP_FAILURE
