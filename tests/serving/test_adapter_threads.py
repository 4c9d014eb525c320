"""The embedded adapter's thread counts: the CPUs a container may use, and the export's --threads parameters.

The adapter runs inside Triton's Python stub and imports its utilities module; here a stand-in module takes its
place, so its pure functions run in process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from export.sources.torchvision_source import VOC_LABELS
from export.triton_config import RUNTIMES, THREAD_PARAMETERS, ModelSpec, check_config, render_config


def affinity() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", affinity()),  # no quota: the affinity
        ("100000 100000\n", 1),  # a 1-CPU limit
        ("150000 100000\n", min(2, affinity())),  # 1.5 CPUs: rounded up, never above the affinity
        ("garbage", affinity()),
    ],
)
def test_usable_cpus_follow_the_cgroup_quota_and_the_affinity(adapter, tmp_path: Path, cpu_max, expected) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert adapter.usable_cpus(path) == expected
    assert adapter.usable_cpus(tmp_path / "absent") == affinity()


def test_a_quota_above_the_affinity_keeps_the_affinity(adapter, tmp_path: Path) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(f"{(affinity() + 8) * 100000} 100000")
    assert adapter.usable_cpus(path) == affinity()


@pytest.mark.parametrize("runtime", RUNTIMES, ids=lambda r: r.name)
def test_export_threads_reach_the_native_parameters_and_the_adapter(adapter, runtime, monkeypatch) -> None:
    monkeypatch.delenv("SERVING_INTRA_OP_THREADS", raising=False)
    config = check_config(render_config(ModelSpec("deeplabv3", runtime, VOC_LABELS, (512, 512), threads=3)))
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    intra, inter = THREAD_PARAMETERS[runtime.platform]
    assert (parameters[intra], parameters[inter]) == ("3", "1")
    assert adapter._thread_setting(parameters, adapter.INTRA_OP_PARAMETERS, "SERVING_INTRA_OP_THREADS", 99) == 3
    assert adapter._thread_setting(parameters, adapter.INTER_OP_PARAMETERS, "SERVING_INTER_OP_THREADS", 99) == 1
    plain = check_config(render_config(ModelSpec("deeplabv3", runtime, VOC_LABELS, (512, 512))))
    assert intra not in plain.parameters  # 0 writes none: the committed configs stay as they are


def test_a_bad_thread_count_names_its_parameter(adapter) -> None:
    with pytest.raises(adapter.pb_utils.TritonModelException, match="intra_op_thread_count"):
        adapter._thread_setting({"intra_op_thread_count": "two"}, adapter.INTRA_OP_PARAMETERS, "X", 1)
    with pytest.raises(adapter.pb_utils.TritonModelException, match=">= 1"):
        adapter._thread_setting({"INTRA_OP_THREAD_COUNT": "0"}, adapter.INTRA_OP_PARAMETERS, "X", 1)
