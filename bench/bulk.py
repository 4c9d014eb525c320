"""A folder of photos: ``segment DIR --summary`` (the client CLI, a subprocess against the bench's gateway) against
what a user who skips the service runs, an in-process loop over the same files (read, decode and resize exactly as
the gateway does, then the same served map-only ONNX file under onnxruntime's defaults).

The photos are distinct: deterministic crops, mirror images and rescales of the shared photos, written to a
temporary folder at bench time (the shared photos are never copied into the project).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

from bench.request_paths import in_process_session
from gateway.contract import INPUT_NAME, ONNX_RUNTIME, SEGMENTATION_MAP
from gateway.core.config import Settings
from gateway.images import decode_image, to_model_input

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
SCALES = (1.0, 0.8, 0.6, 0.5)
REPO_ROOT = Path(__file__).resolve().parent.parent


def source_photos(folder: Path) -> list[Path]:
    """The photos in ``folder`` (sorted), the material the distinct ones are cut from."""
    return sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES)


def variant(picture: Image.Image, k: int) -> Image.Image:
    """The ``k``-th distinct variant of ``picture``: a crop keeping 100-72% of each side (k % 8) at the left, centre
    or right and top, middle or bottom, mirrored for odd k, rescaled by SCALES[(k // 8) % 4], and moved by k // 32
    pixels beyond that (so every k up to the photo's size gives a different picture)."""
    width, height = picture.size
    keep = 1.0 - 0.04 * (k % 8)
    crop_w, crop_h = max(1, round(width * keep)), max(1, round(height * keep))
    shift = k // 32
    left = min(width - crop_w, (width - crop_w) * (k % 3) // 2 + shift)
    top = min(height - crop_h, (height - crop_h) * ((k // 3) % 3) // 2 + shift)
    out = picture.crop((left, top, left + crop_w, top + crop_h))
    if k % 2:
        out = ImageOps.mirror(out)
    scale = SCALES[(k // 8) % len(SCALES)]
    if scale != 1.0:
        out = out.resize((max(1, round(crop_w * scale)), max(1, round(crop_h * scale))), Image.Resampling.LANCZOS)
    return out


def make_photos(sources: Sequence[Path], count: int, folder: Path) -> list[Path]:
    """``count`` distinct JPEG photos in ``folder``, cut from ``sources`` in turn (bulk-0000.jpg, ...)."""
    if not sources:
        raise FileNotFoundError("no source photos for the bulk scenario")
    pictures = []
    for source in sources:
        with Image.open(source) as opened:
            pictures.append(ImageOps.exif_transpose(opened).convert("RGB"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        picture, k = pictures[index % len(pictures)], index // len(pictures)
        buffer = io.BytesIO()
        variant(picture, k).save(buffer, format="JPEG", quality=90)
        path = folder / f"bulk-{index:04d}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


class InProcessLoop:
    """Read, decode and resize as the gateway does (gateway/inference.py: decode_image with draft_size, then
    to_model_input), one photo at a time, then the served map-only file in one onnxruntime session (defaults)."""

    def __init__(self, map_file: Path, size_hw: tuple[int, int], intra_op_threads: int = 0) -> None:
        self.session: ort.InferenceSession = in_process_session(map_file, intra_op_threads)
        self.size_hw = size_hw
        self.settings = Settings()

    def segment(self, path: Path) -> np.ndarray:
        picture = decode_image(path.read_bytes(), self.settings, draft_size=self.size_hw)
        model_input = to_model_input(picture, self.size_hw)[np.newaxis]
        (segmentation_map,) = self.session.run([SEGMENTATION_MAP], {INPUT_NAME: model_input})
        return segmentation_map

    def photos_per_s(self, paths: Sequence[Path]) -> float:
        started = time.perf_counter()
        for path in paths:
            self.segment(path)
        return len(paths) / (time.perf_counter() - started)


@dataclass(frozen=True)
class CliRun:
    photos_per_s: float | None
    wall_s: float
    returncode: int
    summaries: int  # JSON lines on stdout: one per photo when all went well
    stderr_tail: str


def cli_command(folder: Path, gateway_url: str, family: str, timeout_s: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "client.cli",
        str(folder),
        "--summary",
        "--gateway",
        gateway_url,
        "--model",
        family,
        "--backend",
        ONNX_RUNTIME,
        "--timeout",
        str(timeout_s),
    ]


def run_cli(
    folder: Path, count: int, gateway_url: str, family: str, api_key: str | None, timeout_s: float = 600.0
) -> CliRun:
    """``segment DIR --summary`` as a user runs it, timed from start to exit (interpreter start-up included)."""
    env = dict(os.environ)
    if api_key:
        env["SEGMENT_API_KEY"] = api_key
    started = time.perf_counter()
    completed = subprocess.run(
        cli_command(folder, gateway_url, family, timeout_s),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    wall = time.perf_counter() - started
    summaries = sum(1 for line in completed.stdout.splitlines() if line.startswith("{"))
    ok = completed.returncode == 0 and summaries == count
    return CliRun(
        round(count / wall, 2) if ok else None,
        round(wall, 2),
        completed.returncode,
        summaries,
        "\n".join(completed.stderr.splitlines()[-5:]),
    )


def cli_start_up_s() -> float:
    """What the CLI costs before its first request: ``segment --help`` imports everything a run imports."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "client.cli", "--help"], cwd=REPO_ROOT, capture_output=True, timeout=120, check=False
    )
    return round(time.perf_counter() - started, 2)


def measure(
    sources: Sequence[Path],
    count: int,
    map_file: Path,
    size_hw: tuple[int, int],
    gateway_url: str,
    family: str,
    api_key: str | None = None,
    intra_op_threads: int = 0,
) -> dict:
    """Photos/s of the CLI and of the in-process loop on ``count`` distinct photos. The loop runs before and
    after the CLI (its figure is the mean of the two), so a drift in the machine's load shows on both sides."""
    loop = InProcessLoop(map_file, size_hw, intra_op_threads)
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as temporary:
        folder = Path(temporary)
        paths = make_photos(sources, count, folder)
        loop.segment(paths[0])  # warm: onnxruntime's first run and Pillow's lazy imports
        before = loop.photos_per_s(paths)
        cli = run_cli(folder, count, gateway_url, family, api_key)
        after = loop.photos_per_s(paths)
    in_process = round((before + after) / 2, 2)
    figures: dict = {
        "photos": count,
        "sources": [path.name for path in sources],
        "map_file": str(map_file),
        "in_process_photos_per_s": in_process,
        "in_process_photos_per_s_before": round(before, 2),
        "in_process_photos_per_s_after": round(after, 2),
        "cli_photos_per_s": cli.photos_per_s,
        "cli_wall_s": cli.wall_s,
        "cli_start_up_s": cli_start_up_s(),
        "cli_returncode": cli.returncode,
        "cli_summaries": cli.summaries,
    }
    if cli.photos_per_s is None:
        figures["cli_error"] = cli.stderr_tail
    figures["bulk_vs_inprocess"] = round(cli.photos_per_s / in_process, 3) if cli.photos_per_s else None
    return figures
