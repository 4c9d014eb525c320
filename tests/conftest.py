"""Session fixtures shared by every test package.

`stack` is THE embedded stack of the session: the test repository (default family, random weights, plus the
real VOC model) served by `python -m serving` on free ports, gateway included. Tests that need it fail,
never skip, when it cannot start, and the message carries the logs that explain why.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.exported_repository import exported_repository_copy
from tests.support.stack import EmbeddedStack, StackError


@pytest.fixture(scope="session")
def exported_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the exported test repository (cached by the export code's hash). Do not modify."""
    try:
        return exported_repository_copy(tmp_path_factory.mktemp("exported") / "repo")
    except Exception as exc:  # noqa: BLE001 - any export failure must fail the dependent tests, with its output
        pytest.fail(f"could not export the test repository: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def stack(exported_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    """The running embedded stack: gateway_url, triton_http_url, triton_grpc_url, repository, run_dir,
    kill_triton(), wait_ready(timeout). Torn down at the end of the session, leaving nothing behind."""
    running = EmbeddedStack(repository=exported_repository, run_dir=tmp_path_factory.mktemp("stack") / "run")
    running.start()
    try:
        running.wait_ready()
    except StackError as exc:
        _stop_quietly(running)
        pytest.fail(f"the embedded stack did not start: {exc}", pytrace=False)
    yield running

    exit_code = running.stop()
    processes, regions = running.leftover_processes(), running.leftover_shm_regions()
    running.force_cleanup()
    assert exit_code == 0, f"the launcher exited with {exit_code} on SIGTERM\n{running.logs()}"
    assert not processes, f"processes left after the stack stopped: {processes}"
    assert not regions, f"shared-memory regions left after the stack stopped: {regions}"


def _stop_quietly(running: EmbeddedStack) -> None:
    try:
        running.stop()
    except StackError:
        pass
    running.force_cleanup()
