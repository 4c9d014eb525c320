"""bench.cpu_runtimes' rule (issue 21, item 7): adopt a CPU runtime setting only if it is faster on every family and
its maps agree with onnxruntime's on at least 99.5% of every photo's pixels. In-process, no runtime needed."""

from __future__ import annotations

import numpy as np
import pytest

from bench.cpu_runtimes import REFERENCE, Figures, adopted, map_agreement


def figures(setting: str, speed_ups: tuple[float, float], agreements: tuple[float, float]) -> list[Figures]:
    families = ("deeplabv3", "voc")
    reference = [Figures(family, REFERENCE, 40.0, 1.0, (1.0, 1.0)) for family in families]
    return reference + [
        Figures(family, setting, 40.0 / speed_up, speed_up, (1.0, agreement))
        for family, speed_up, agreement in zip(families, speed_ups, agreements, strict=True)
    ]


def test_a_setting_faster_everywhere_with_the_same_maps_is_adopted() -> None:
    assert adopted(figures("fast", (1.2, 1.05), (1.0, 0.996)), "fast")[0]


@pytest.mark.parametrize(
    "speed_ups,agreements,reason",
    [
        ((1.18, 0.97), (1.0, 1.0), "not faster on voc"),  # the in-process figures
        (
            (2.07, 1.54),
            (0.9882, 0.9864),
            "maps under 99.5% equal on deeplabv3, voc",
        ),  # bf16 defaults here (the worst photos)
        ((1.2, 1.2), (1.0, 0.9949), "maps under 99.5% equal on voc"),  # one photo under the bound is enough
    ],
)
def test_a_setting_slower_on_one_family_or_with_other_maps_is_not(
    speed_ups: tuple[float, float], agreements: tuple[float, float], reason: str
) -> None:
    verdict, why = adopted(figures("other", speed_ups, agreements), "other")
    assert not verdict and reason in why


def test_a_setting_never_measured_is_not_adopted() -> None:
    assert adopted(figures("other", (2.0, 2.0), (1.0, 1.0)), "missing") == (False, "missing: not measured")


def test_map_agreement_counts_equal_classes_whatever_the_integer_type() -> None:
    expected = np.zeros((1, 4, 4), dtype=np.int64)
    found = np.zeros((1, 4, 4), dtype=np.uint8)
    found[0, 0, :2] = 3
    assert map_agreement(found, expected) == 14 / 16
    assert map_agreement(expected.astype(np.int32), expected) == 1.0
