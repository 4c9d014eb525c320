"""How long the launcher waits before restarting a dead tritonserver."""

from __future__ import annotations

from serving.supervisor import RestartPolicy


def test_backoff_doubles_from_one_second_and_is_capped() -> None:
    policy = RestartPolicy(first_backoff_s=1, max_backoff_s=30)
    assert [policy.backoff(attempt) for attempt in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
