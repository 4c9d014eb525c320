"""The parity tolerances, and why they are what they are (shown by --help and written into reports)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Tolerances:
    # FP32 throughout; TorchScript freezing folds BN into conv weights and ONNX Runtime fuses and reorders
    # reductions, so logits differ by float rounding: typically 1e-5..1e-4 on logits of magnitude ~10.
    # 1e-3 absolute leaves headroom for that rounding yet is far below any real bug (a wrong
    # normalisation or channel order moves logits by >0.1).
    max_abs_logit_diff: float = 1e-3
    # L2 distance between per-pixel probability vectors, averaged over pixels (each vector has L2 norm <= 1).
    mean_l2_probability_diff: float = 1e-4
    # Argmax flips only where the top two classes tie within the rounding above: at most a few border
    # pixels per image. 99.9% identical pixels allows that, while one swapped label or shifted row fails.
    min_identical_map_fraction: float = 0.999

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_TOLERANCES = Tolerances()

TOLERANCE_HELP = (
    f"  max |logit difference|        <= {DEFAULT_TOLERANCES.max_abs_logit_diff:g}"
    "   (FP32 rounding of fused/reordered ops is ~1e-5..1e-4)\n"
    f"  mean L2 of probability diff   <= {DEFAULT_TOLERANCES.mean_l2_probability_diff:g}"
    "   (per-pixel distributions, each of norm <= 1)\n"
    f"  identical map pixels          >= {DEFAULT_TOLERANCES.min_identical_map_fraction:.1%}"
    " (argmax flips only at near-ties)"
)
