"""Agreement numbers between two runtimes' outputs, and the report that judges them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .compare_tolerances import Tolerances
from .runners import Outputs


@dataclass(frozen=True)
class Agreement:
    max_abs_logit_diff: float
    mean_l2_probability_diff: float  # per-pixel L2 norm of the probability difference, averaged
    identical_map_fraction: float

    @classmethod
    def between(cls, a: Outputs, b: Outputs) -> Agreement:
        return cls(
            max_abs_logit_diff=float(np.abs(a.logits - b.logits).max()),
            mean_l2_probability_diff=float(np.sqrt(((a.probabilities - b.probabilities) ** 2).sum(axis=1)).mean()),
            identical_map_fraction=float((a.segmentation_map == b.segmentation_map).mean()),
        )

    def failures(self, tolerances: Tolerances) -> list[str]:
        found = []
        if not self.max_abs_logit_diff <= tolerances.max_abs_logit_diff:  # `not <=` also catches NaN
            found.append(f"max|logit diff| {self.max_abs_logit_diff:.3g} > {tolerances.max_abs_logit_diff:g}")
        if not self.mean_l2_probability_diff <= tolerances.mean_l2_probability_diff:
            found.append(
                f"mean L2 prob diff {self.mean_l2_probability_diff:.3g} > {tolerances.mean_l2_probability_diff:g}"
            )
        if not self.identical_map_fraction >= tolerances.min_identical_map_fraction:
            found.append(
                f"identical map pixels {self.identical_map_fraction:.4%} < {tolerances.min_identical_map_fraction:.1%}"
            )
        return found

    @staticmethod
    def worst(agreements: list[Agreement]) -> Agreement:
        return Agreement(
            max_abs_logit_diff=max(a.max_abs_logit_diff for a in agreements),
            mean_l2_probability_diff=max(a.mean_l2_probability_diff for a in agreements),
            identical_map_fraction=min(a.identical_map_fraction for a in agreements),
        )


def output_contract_problems(outputs: Outputs, batch: int, num_classes: int, size: tuple[int, int]) -> list[str]:
    """The contract's shapes, dtypes and internal consistency, for one runtime's outputs."""
    height, width = size
    problems = []
    if outputs.logits.shape != (batch, num_classes, height, width) or outputs.logits.dtype != np.float32:
        problems.append(f"logits {outputs.logits.dtype}{list(outputs.logits.shape)}")
    if outputs.probabilities.shape != outputs.logits.shape or outputs.probabilities.dtype != np.float32:
        problems.append(f"probabilities {outputs.probabilities.dtype}{list(outputs.probabilities.shape)}")
    if outputs.segmentation_map.shape != (batch, height, width) or outputs.segmentation_map.dtype != np.uint8:
        problems.append(f"segmentation_map {outputs.segmentation_map.dtype}{list(outputs.segmentation_map.shape)}")
    if outputs.confidence.shape != (batch, height, width) or outputs.confidence.dtype != np.float32:
        problems.append(f"confidence {outputs.confidence.dtype}{list(outputs.confidence.shape)}")
    if problems:
        return problems
    if not np.allclose(outputs.probabilities.sum(axis=1), 1.0, atol=1e-4):
        problems.append("probabilities do not sum to 1 over classes")
    if not np.array_equal(outputs.segmentation_map, outputs.logits.argmax(axis=1)):
        problems.append("segmentation_map != argmax(logits)")
    if not np.allclose(outputs.confidence, outputs.probabilities.max(axis=1), atol=1e-5):
        problems.append("confidence != max(probabilities) over classes")
    return problems


def class_fractions(segmentation_map: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    counts = np.bincount(segmentation_map.ravel(), minlength=len(labels))
    total = segmentation_map.size
    return {labels[i]: round(float(counts[i]) / total, 4) for i in np.argsort(-counts) if counts[i]}


@dataclass
class InputResult:
    name: str
    kind: str  # "photo" | "random"
    agreements: dict[str, Agreement]  # "torchscript_vs_eager", ...
    class_fractions: dict[str, dict[str, float]]  # runtime -> label -> fraction


@dataclass
class ParityReport:
    family: str
    weights: str
    weights_are_random: bool
    tolerances: Tolerances
    threads: int
    inputs: list[InputResult] = field(default_factory=list)
    ms_per_image: dict[str, float | None] = field(default_factory=dict)
    contract_problems: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        found = list(self.contract_problems)
        for result in self.inputs:
            for pair, agreement in result.agreements.items():
                found += [f"{result.name} {pair}: {problem}" for problem in agreement.failures(self.tolerances)]
        return found

    @property
    def passed(self) -> bool:
        return not self.failures

    def worst_by_pair(self) -> dict[str, Agreement]:
        pairs = sorted({pair for result in self.inputs for pair in result.agreements})
        return {
            pair: Agreement.worst([r.agreements[pair] for r in self.inputs if pair in r.agreements]) for pair in pairs
        }

    def summary(self) -> dict[str, Any]:
        """The short form the manifest carries."""
        return {
            "passed": self.passed,
            "weights_are_random": self.weights_are_random,
            "inputs": [f"{r.kind}:{r.name}" for r in self.inputs],
            "worst": {pair: asdict(agreement) for pair, agreement in self.worst_by_pair().items()},
            "tolerances": self.tolerances.as_dict(),
            "ms_per_image": self.ms_per_image,
            "threads": self.threads,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "weights": self.weights,
            "weights_are_random": self.weights_are_random,
            "note": "RANDOM WEIGHTS: these maps are meaningless; only backend agreement is shown"
            if self.weights_are_random
            else "",
            **self.summary(),
            "failures": self.failures,
            "per_input": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "agreement": {pair: asdict(a) for pair, a in r.agreements.items()},
                    "class_fractions": r.class_fractions,
                }
                for r in self.inputs
            ],
        }
