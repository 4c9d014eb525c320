"""What the launcher shows of a log when something failed."""

from __future__ import annotations

from serving.processes import log_excerpt

TRITON_LOG = """\
I1127 07:42:13.001 1 server.cc:1] "Initialized"
E1127 07:42:13.002 1 server.cc:241] "CudaDriverHelper has not been initialized."
+------+--------+
| Model | Status |
+------+--------+
E1127 07:42:14.000 1 model_lifecycle.cc:654] "failed to load 'broken' version 1: Internal: bad model"
I1127 07:42:15.000 1 server.cc:2] "Started GRPCInferenceService at 127.0.0.1:8001"
"""


def test_error_lines_come_first_and_noise_is_dropped() -> None:
    excerpt = log_excerpt(TRITON_LOG)
    assert excerpt.splitlines()[0].strip().endswith("\"failed to load 'broken' version 1: Internal: bad model\"")
    assert "CudaDriverHelper" not in excerpt and "| Model" not in excerpt
    assert "Started GRPCInferenceService" in excerpt


def test_a_bad_option_shows_the_reason_not_the_usage_text() -> None:
    text = "tritonserver: unrecognized option '--x'\nUsage: tritonserver [options]\n  --help\n" + "  --opt\n" * 300
    assert log_excerpt(text).strip() == "tritonserver: unrecognized option '--x'"


def test_an_empty_log_says_so() -> None:
    assert "empty" in log_excerpt("")
