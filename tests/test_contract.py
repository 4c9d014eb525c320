"""gateway.contract: the model contract's names, written once, light enough for every process to import."""

from __future__ import annotations

import ast
import sys

from gateway import contract, domain
from tests.support.paths import REPO_ROOT


def test_the_contract_imports_only_the_standard_library() -> None:
    tree = ast.parse((REPO_ROOT / "gateway" / "contract.py").read_text())
    roots = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    roots |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert roots <= set(sys.stdlib_module_names), f"gateway/contract.py imports {sorted(roots)}"


def test_the_export_writes_the_contracts_runtimes() -> None:
    from export.triton_config import ONNX_INT8, RUNTIMES

    assert tuple(runtime.name for runtime in (*RUNTIMES, ONNX_INT8)) == contract.RUNTIMES


def test_the_gateway_results_map_onto_the_contracts_outputs_in_order() -> None:
    assert tuple(domain.COMPUTED_TO_OUTPUT.values()) == contract.OUTPUT_NAMES
    assert tuple(domain.RESULT_TO_OUTPUT.values()) == contract.LEGACY_OUTPUT_NAMES  # the API's three result types
    assert domain.RUNTIMES is contract.RUNTIMES


def test_the_partial_model_rule() -> None:
    assert contract.partial_model_name("deeplabv3_onnx", ("segmentation_map",)) == "deeplabv3_onnx__segmentation_map"
    both = contract.partial_model_name("deeplabv3_onnx", ("confidence", "segmentation_map"))
    assert both == "deeplabv3_onnx__segmentation_map__confidence"  # contract order, whatever the caller's
    assert contract.partial_outputs_of(both) == ("segmentation_map", "confidence")
