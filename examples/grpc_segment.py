#!/usr/bin/env python3
"""Segment a photo by sending its encoded bytes to Triton's gRPC API directly (no gateway, no preprocessing here).

    python examples/grpc_segment.py ../shared/images/dog2.jpg
    python examples/grpc_segment.py photo.jpg --model deeplabv3_torchscript --url 127.0.0.1:8001 --save map.png

It sends the file as it is (one BYTES element) to `<model>_photo__segmentation_map`, the Triton ensemble that
decodes, orients and resizes it exactly as the gateway does and runs the map's own model; it prints the fraction
of pixels of each class found, with the class names from the model's `segmentation.labels` config parameter.
Needs only `tritonclient[grpc]` and numpy: any language with a gRPC client can do the same.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient


def class_names(client: grpcclient.InferenceServerClient, model: str) -> list[str]:
    config = client.get_model_config(model, as_json=True)["config"]
    labels = config.get("parameters", {}).get("segmentation.labels", {}).get("string_value", "")
    return labels.split(",") if labels else []


def segment(client: grpcclient.InferenceServerClient, model: str, photo: bytes) -> np.ndarray:
    """The class index of every pixel of the encoded `photo` at the model's input size, as uint8 [H, W]."""
    tensor = grpcclient.InferInput("photo", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([photo], dtype=np.object_).reshape(1, 1))
    result = client.infer(f"{model}_photo__segmentation_map", [tensor])
    return result.as_numpy("segmentation_map")[0]


def class_fractions(segmentation_map: np.ndarray, names: list[str]) -> dict[str, float]:
    counts = np.bincount(segmentation_map.ravel(), minlength=len(names))
    total = segmentation_map.size
    return {
        (names[i] if i < len(names) else f"class {i}"): count / total
        for i, count in sorted(enumerate(counts), key=lambda item: -item[1])
        if count
    }


def main(argv: list[str] | None = None) -> int:
    default_url = f"127.0.0.1:{os.environ.get('TRITON_GRPC_PORT', '8001')}"
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Prints one line per class found: name and pixel fraction.",
        epilog="example output:\n  dog          0.271\n  background   0.729",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", type=Path, help="the photo (JPEG, PNG, WebP, ...: what the gateway accepts)")
    parser.add_argument(
        "--url", default=default_url, help=f"Triton gRPC host:port (default {default_url}, TRITON_GRPC_PORT)"
    )
    parser.add_argument("--model", default="deeplabv3_onnx", help="model name (default deeplabv3_onnx)")
    parser.add_argument("--save", type=Path, help="also write the class map as a grey PNG (pixel value = class)")
    args = parser.parse_args(argv)

    client = grpcclient.InferenceServerClient(args.url)
    try:
        segmentation_map = segment(client, args.model, args.image.read_bytes())
        names = class_names(client, args.model)
    except grpcclient.InferenceServerException as exc:
        print(f"Triton at {args.url} refused: {exc}", file=sys.stderr)
        return 1
    if args.save:
        from PIL import Image  # only to write the PNG

        Image.fromarray(segmentation_map).save(args.save)
    for name, fraction in class_fractions(segmentation_map, names).items():
        print(f"{name:<12} {fraction:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
