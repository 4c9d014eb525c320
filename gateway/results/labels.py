"""Class ids → names, from the model's labels (its config's ``segmentation.labels``)."""
from __future__ import annotations

from collections.abc import Sequence


def class_name(labels: Sequence[str], class_id: int) -> str:
    """The label of ``class_id``; ids past the labels (e.g. VOC's 255 "void") get a readable stand-in."""
    return labels[class_id] if 0 <= class_id < len(labels) else f"class_{class_id}"
