"""The environment tritonserver and its stubs run with (serving/server_tree.py)."""

from __future__ import annotations

from pathlib import Path

from serving.server_tree import GOMP_SPINCOUNT, ServerTree


def tree() -> ServerTree:
    return ServerTree(root=Path("/nowhere"), library_dirs=(Path("/nowhere/lib"),))


def test_torch_threads_spin_a_bounded_while_then_sleep() -> None:
    env = tree().environment({"PATH": "/usr/bin"})
    assert env["GOMP_SPINCOUNT"] == GOMP_SPINCOUNT
    # PASSIVE (sleep after every op) made the torch map model 1.6-1.7x slower: never set by default.
    assert "OMP_WAIT_POLICY" not in env


def test_an_explicit_wait_policy_or_spin_count_wins() -> None:
    passive = tree().environment({"OMP_WAIT_POLICY": "PASSIVE"})
    assert passive["OMP_WAIT_POLICY"] == "PASSIVE" and "GOMP_SPINCOUNT" not in passive
    assert tree().environment({"GOMP_SPINCOUNT": "0"})["GOMP_SPINCOUNT"] == "0"
