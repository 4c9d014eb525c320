#!/usr/bin/env python3
"""Segment a photo by calling Triton's gRPC API directly with tritonclient (no gateway in between).

    python examples/grpc_segment.py ../shared/images/dog2.jpg
    python examples/grpc_segment.py photo.jpg --model deeplabv3_torchscript --url 127.0.0.1:8001 --save map.png

It reads the model's input size and class names from Triton (metadata and the `segmentation.labels`
config parameter), resizes the photo to that size, sends it as UINT8 [1, 3, H, W], asks for the
`segmentation_map` output only (256 KB instead of 22 MB of FP32 logits), and prints the fraction of
pixels of each class found. Needs only `tritonclient[grpc]`, numpy and Pillow.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from PIL import Image


def model_input_size(client: grpcclient.InferenceServerClient, model: str) -> tuple[int, int]:
    """(height, width) of the model's `image` input [batch, 3, H, W]."""
    metadata = client.get_model_metadata(model, as_json=True)
    image = next(tensor for tensor in metadata["inputs"] if tensor["name"] == "image")
    _, _, height, width = (int(d) for d in image["shape"])
    return height, width


def class_names(client: grpcclient.InferenceServerClient, model: str) -> list[str]:
    config = client.get_model_config(model, as_json=True)["config"]
    labels = config.get("parameters", {}).get("segmentation.labels", {}).get("string_value", "")
    return labels.split(",") if labels else []


def segment(client: grpcclient.InferenceServerClient, model: str, photo: Image.Image) -> np.ndarray:
    """The class index of every pixel of `photo` resized to the model's input size, as uint8 [H, W]."""
    height, width = model_input_size(client, model)
    pixels = np.asarray(photo.convert("RGB").resize((width, height), Image.Resampling.BILINEAR))
    batch = np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])  # HWC → NCHW
    image = grpcclient.InferInput("image", list(batch.shape), "UINT8")
    image.set_data_from_numpy(batch)
    result = client.infer(model, [image], outputs=[grpcclient.InferRequestedOutput("segmentation_map")])
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
    parser.add_argument("image", type=Path, help="the photo (any format Pillow reads)")
    parser.add_argument(
        "--url", default=default_url, help=f"Triton gRPC host:port (default {default_url}, TRITON_GRPC_PORT)"
    )
    parser.add_argument("--model", default="deeplabv3_onnx", help="model name (default deeplabv3_onnx)")
    parser.add_argument("--save", type=Path, help="also write the class map as a grey PNG (pixel value = class)")
    args = parser.parse_args(argv)

    client = grpcclient.InferenceServerClient(args.url)
    try:
        with Image.open(args.image) as photo:
            segmentation_map = segment(client, args.model, photo)
        names = class_names(client, args.model)
    except grpcclient.InferenceServerException as exc:
        print(f"Triton at {args.url} refused: {exc}", file=sys.stderr)
        return 1
    if args.save:
        Image.fromarray(segmentation_map).save(args.save)
    for name, fraction in class_fractions(segmentation_map, names).items():
        print(f"{name:<12} {fraction:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
