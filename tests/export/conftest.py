"""Shared, expensive fixtures of the export tests: one random-weights export per session, reused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from export.pipeline import ExportResult, export_family
from export.sources.base import ModelSource
from export.sources.request import TorchvisionRequest

# Two shared cores: keep each test process from oversubscribing them.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def random_request() -> TorchvisionRequest:
    return TorchvisionRequest(arch="deeplabv3_mobilenet_v3_large", weights="random")


@pytest.fixture(scope="session")
def random_source(random_request: TorchvisionRequest) -> ModelSource:
    return random_request.build()


@pytest.fixture(scope="session")
def exported(
    tmp_path_factory: pytest.TempPathFactory, random_request: TorchvisionRequest, random_source: ModelSource
) -> ExportResult:
    """The default family (deeplabv3, random weights) exported once, without parity (tested on its own)."""
    repository = tmp_path_factory.mktemp("repository")
    return export_family(random_request, repository, source=random_source)


@pytest.fixture(scope="session")
def repository(exported: ExportResult) -> Path:
    return next(iter(exported.model_dirs.values())).parent


class TinySegmenter(nn.Module):
    """A 3-class 'segmenter' small enough to export in well under a second."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, kernel_size=3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.conv(image.to(torch.float32) / 255.0)


@pytest.fixture
def tiny_source() -> ModelSource:
    return ModelSource(
        logits_model=TinySegmenter().eval(),
        labels=("background", "cat", "dog"),
        input_size=(32, 32),
        weights="random",
        weights_are_random=True,
        provenance={"source": "test"},
    )
