"""Session fixtures shared by every test package.

`stack` is THE embedded stack of the session: the test repository (default family, random weights, plus the
real VOC model) served by `python -m serving` on free ports, gateway included. Tests that need it fail,
never skip, when it cannot start, and the message carries the logs that explain why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.exported_repository import exported_repository_copy
from tests.support.stack import EmbeddedStack, StackError

# Session fixtures that take minutes the first time (export, stack start) and bound themselves.
_SLOW_SESSION_FIXTURES = {"exported_repository", "stack"}
_set_up: set[str] = set()
# A test that uses any of these needs exported models or a running Triton: it is marked `stack`, so
# `pytest -m "not stack"` runs the in-process tier alone, in seconds.
_STACK_FIXTURES = _SLOW_SESSION_FIXTURES | {"exported", "repository", "random_source"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item):
    """The first test that needs a slow session fixture gets its per-test timeout on its call only.

    Otherwise whichever test happens to come first (with, say, a 60 s timeout of its own) would be
    charged for the export and the stack start, and fail for a reason that is not its own.
    """
    if _SLOW_SESSION_FIXTURES.intersection(getattr(item, "fixturenames", ())) - _set_up:
        marker = item.get_closest_marker("timeout")
        args, kwargs = (marker.args, dict(marker.kwargs)) if marker else ((), {})
        item.add_marker(pytest.mark.timeout(*args, **{**kwargs, "func_only": True}), append=False)
    yield


@pytest.fixture(scope="session")
def exported_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the exported test repository (cached by the export code's hash). Do not modify."""
    try:
        repository = exported_repository_copy(tmp_path_factory.mktemp("exported") / "repo")
    except Exception as exc:  # noqa: BLE001 - any export failure must fail the dependent tests, with its output
        pytest.fail(f"could not export the test repository: {exc}", pytrace=False)
    _set_up.add("exported_repository")
    return repository


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
    _set_up.add("stack")
    yield running

    exit_code = running.stop()
    processes, regions = running.leftover_processes(), running.leftover_shm_regions()
    running.force_cleanup()
    assert exit_code == 0, f"the launcher exited with {exit_code} on SIGTERM\n{running.logs()}"
    assert not processes, f"processes left after the stack stopped: {processes}"
    assert not regions, f"shared-memory regions left after the stack stopped: {regions}"


def _stop_quietly(running: EmbeddedStack) -> None:
    with contextlib.suppress(StackError):
        running.stop()
    running.force_cleanup()
