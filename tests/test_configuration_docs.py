"""The one table of environment variables (docs/architecture.md) names every variable the settings classes read."""

from __future__ import annotations

import re

from export.paths import ExportSettings
from gateway.core.config import Settings
from serving.settings import ServingSettings
from tests.support.paths import REPO_ROOT


def _documented() -> set[str]:
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    table = text.split("## Processes and configuration (environment variables)", 1)[1].split("\n\n|", 1)[1]
    names: set[str] = set()
    for row in table.split("\n\n", 1)[0].splitlines():
        first_cell = row.split("|")[1] if row.count("|") > 2 else ""
        variables = re.findall(r"`([A-Z_]+)`", first_cell)
        prefix = ""
        for (
            variable
        ) in variables:  # `GATEWAY_FETCH_CONNECT_TIMEOUT_S` / `_READ_TIMEOUT_S`: the suffix shares the prefix
            if variable.startswith("_"):
                names.add(prefix + variable)
            else:
                names.add(variable)
                prefix = "_".join(variable.split("_")[:2])
    return names


def test_every_gateway_setting_is_in_the_table() -> None:
    expected = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    assert expected - _documented() == set()


def test_every_launcher_setting_is_in_the_table() -> None:
    expected = {str(field.validation_alias) for field in ServingSettings.model_fields.values()}
    assert expected - _documented() == set()


def test_every_export_setting_is_in_the_table() -> None:
    expected = {str(field.validation_alias) for field in ExportSettings.model_fields.values()}
    assert expected - _documented() == set()


def test_the_table_names_nothing_that_is_not_read() -> None:
    read = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    read |= {str(field.validation_alias) for field in ServingSettings.model_fields.values()}
    read |= {str(field.validation_alias) for field in ExportSettings.model_fields.values()}
    others = {
        "SERVING_INTRA_OP_THREADS",
        "SERVING_INTER_OP_THREADS",
        "SERVING_ORT_SPINNING",
        "SERVING_ORT_STOP_SPINNING",
        "SERVING_ORT_SHARED_ARENA",
        "SEGMENT_GATEWAY",
        "SEGMENT_API_KEY",
        "TRITON_PUBLISH_ADDRESS",
    }  # the Python backend, the CLI, compose
    assert _documented() - read - others == set()
