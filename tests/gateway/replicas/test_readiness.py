"""/ready over several replicas: one answering "not ready" (starting, stopping) is followed by the next.

The replicas here are stand-ins answering as Triton's client would (real replicas cannot be made to
answer "not ready" on cue); what goes to real Tritons is proved in the other tests of this package.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from gateway.core.config import Settings
from gateway.main import create_app

pytestmark = pytest.mark.timeout(60)


class RoundRobinReplicas:
    """Each status call goes to the next replica, as round_robin sends them; ``ready`` per replica."""

    def __init__(self, ready: list[bool]) -> None:
        self.ready = ready
        self.asked: list[int] = []

    async def server_ready(self) -> bool:
        self.asked.append(len(self.asked) % len(self.ready))
        return self.ready[self.asked[-1]]

    async def repository_index(self) -> list[dict]:
        return [{"name": "deeplabv3_onnx", "state": "READY"}]

    async def models(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="deeplabv3_onnx", family="deeplabv3")]


@pytest.mark.parametrize(
    ("ready", "status"),
    [
        ([False, True], 200),  # the first asked is stopping, the next serves
        ([False, False, True], 200),  # 1 + GATEWAY_TRITON_RETRIES (2) replicas asked
        ([False, False, False], 503),  # none of them
    ],
)
def test_ready_when_one_replica_serves(ready: list[bool], status: int) -> None:
    app = create_app(Settings(triton_url="127.0.0.1:9", triton_retries=2))
    replicas = RoundRobinReplicas(ready)
    with TestClient(app) as client:
        app.state.inference.triton = replicas
        app.state.inference.catalogue = replicas
        response = client.get("/ready")
    assert response.status_code == status, response.text
    assert len(replicas.asked) == (ready.index(True) + 1 if True in ready else 3)
    if status == 503:
        assert response.json() == {"detail": "Triton is not ready"}
