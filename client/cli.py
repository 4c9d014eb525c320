"""``segment``: segment photos with a running gateway and write masks, overlays and summaries.

Run as ``segment`` (console script) or ``python -m client.cli``; ``segment --help`` says it all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np

from client.gateway_client import (
    DEFAULT_BACKEND,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MASK_SIZE,
    GatewayError,
    SegmentationClient,
)
from client.inputs import ImageInput, is_url
from client.result import SegmentationResult
from gateway import defaults
from gateway.domain import RUNTIMES
from gateway.errors import ServiceError
from gateway.results.palette import encode_mask_png

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_GATEWAY = f"http://{defaults.HOST}:{defaults.GATEWAY_PORT}"
OVERLAY_FORMATS = {".jpg": "overlay_jpeg", ".jpeg": "overlay_jpeg", ".png": "overlay"}

EPILOG = f"""\
output paths (--mask, --overlay):
  one image:     a file path, e.g. --mask mask.png
  several:       a directory (existing, or ending in /), each output named after its input
                 (masks <stem>.png, overlays <stem>.jpg), or a pattern using {{stem}} (input
                 name without extension), {{name}} (input name) or {{index}} (1, 2, ...),
                 e.g. --overlay 'out/{{stem}}-overlay.png'
  masks are PNG (VOC palette, pixel value = class index); an overlay's extension picks PNG or JPEG.

--summary prints one JSON object per image on stdout (JSON Lines: classes with names, pixel
fractions, mean confidence; sizes; model; weights). Without --mask/--overlay, --summary is implied.
Progress goes to stderr.

Photo files: one inference per photo whatever is asked. The gateway answers the mask and the summary
together (response_format=bundle), files go --batch-size at a time through /infer/files with two
requests in flight (the next batch is on its way while the previous answers are written; outputs keep
the input order), and the overlay is painted here on the photo file.
URLs are never downloaded by this machine: the gateway fetches each one (POST /infer/url, under its URL
policy: private and loopback addresses are refused unless allowlisted), answering the bundle for --mask
and --summary and its own overlay (response_format=overlay or overlay_jpeg) for --overlay. A URL with
--overlay and --mask or --summary therefore takes two requests (two fetches, two inferences). A URL the
gateway refuses fails alike whatever is asked: its answer is reported and the exit code is 1.
A 503 is retried --retries times after its Retry-After.

exit codes:
  0  every image segmented and every file written
  1  some images failed (each failure is reported on stderr; the others are still done)
  2  usage error (bad option or value, output paths that would overwrite each other or an input photo)
  3  the gateway is unreachable (nothing was done)

environment: SEGMENT_GATEWAY (default {DEFAULT_GATEWAY}), SEGMENT_API_KEY.
"""


class UsageError(Exception):
    """Options that cannot work together; exit code 2."""


class GatewayUnreachable(Exception):
    """No connection to the gateway; exit code 3."""


@dataclass(frozen=True)
class Output:
    """One file to write per image: which format to ask for and where it goes."""

    response_format: str
    target: str  # a file path, a directory, or a pattern
    default_suffix: str

    def path_for(self, image: str, index: int, many: bool) -> Path:
        name = _input_name(image)
        stem = Path(name).stem or f"image{index}"
        if "{" in self.target:
            try:
                return Path(self.target.format(stem=stem, name=name, index=index))
            except (KeyError, IndexError, ValueError) as error:
                raise UsageError(
                    f"{self.target!r}: patterns may use {{stem}}, {{name}} and {{index}} ({error})"
                ) from error
        target = Path(self.target)
        if self.target.endswith(("/", os.sep)) or target.is_dir():
            return target / f"{stem}{self.default_suffix}"
        if many:
            raise UsageError(
                f"{self.target!r} is one file but there are several images: give a directory or a pattern with {{stem}}"
            )
        return target


def _input_name(image: str) -> str:
    return Path(urlparse(image).path).name if is_url(image) else Path(image).name


def integer_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type=``: a whole number >= ``minimum``; anything else is a usage error (exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def positive_seconds(text: str) -> float:
    """An argparse ``type=``: a finite number of seconds > 0; anything else is a usage error (exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segment",
        description="Segment photos with a running segmentation gateway.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="photo files, directories of photos, or http(s) URLs"
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get("SEGMENT_GATEWAY", DEFAULT_GATEWAY),
        help="gateway base URL (default: $SEGMENT_GATEWAY or %(default)s)",
    )
    parser.add_argument(
        "--backend", choices=RUNTIMES, default=DEFAULT_BACKEND, help="model backend (default: %(default)s)"
    )
    parser.add_argument("--model", help="model family (see GET /models); default: the gateway's default")
    parser.add_argument("--mask", metavar="PATH", help="write the segmentation map as a palette PNG")
    parser.add_argument(
        "--overlay",
        metavar="PATH",
        help="write the photo with the classes painted over it (.jpg or .png); for a URL the "
        "gateway paints it: one more request when --mask or --summary is asked too",
    )
    parser.add_argument("--summary", action="store_true", help="print a JSON summary per image on stdout")
    parser.add_argument(
        "--mask-size",
        choices=("model", "original"),
        default=DEFAULT_MASK_SIZE,
        help="mask (and summary) at the model's input size or the photo's (default: %(default)s)",
    )
    parser.add_argument("--no-legend", dest="legend", action="store_false", help="overlays without the class legend")
    parser.add_argument(
        "--api-key", default=os.environ.get("SEGMENT_API_KEY"), help="API key (default: $SEGMENT_API_KEY)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=120.0,
        metavar="SECONDS",
        help="seconds per request, > 0 (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=integer_at_least(1),
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="photos per request to /infer/files, >= 1 (default: %(default)s, the gateway's default "
        "limit GATEWAY_MAX_BATCH_FILES; a larger batch than the gateway allows fails)",
    )
    parser.add_argument(
        "--retries",
        type=integer_at_least(0),
        default=3,
        metavar="N",
        help="retries of a request answered 503, waiting its Retry-After, >= 0 (default: %(default)s)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def outputs_from(args: argparse.Namespace) -> list[Output]:
    outputs = []
    if args.mask:
        if (
            "{" not in args.mask
            and not args.mask.endswith("/")
            and not Path(args.mask).is_dir()
            and Path(args.mask).suffix.lower() != ".png"
        ):
            raise UsageError(f"--mask {args.mask!r}: masks are PNG, use a .png name")
        outputs.append(Output("png", args.mask, ".png"))
    if args.overlay:
        suffix = Path(args.overlay).suffix.lower()
        is_directory = args.overlay.endswith("/") or Path(args.overlay).is_dir()
        if not is_directory and suffix not in OVERLAY_FORMATS:
            raise UsageError(f"--overlay {args.overlay!r}: use a .jpg, .jpeg or .png name")
        outputs.append(Output(OVERLAY_FORMATS.get(suffix, "overlay_jpeg"), args.overlay, ".jpg"))
    return outputs


def plan_paths(outputs: Sequence[Output], images: Sequence[str]) -> list[list[Path]]:
    """Each image's output paths; refuses plans where two writes would land on one file."""
    many = len(images) > 1
    plan = [[output.path_for(image, index, many) for output in outputs] for index, image in enumerate(images, 1)]
    every = [path.resolve() for paths in plan for path in paths]
    if len(set(every)) != len(every):
        raise UsageError("two outputs would be written to the same file: use {stem} or {index} in the pattern")
    refuse_overwriting_inputs(images, every)
    return plan


def refuse_overwriting_inputs(images: Sequence[str], outputs: Sequence[Path]) -> None:
    """No output may be an input photo: same path once resolved (symlinks, ``..``), or the same file (hard link)."""
    inputs = [Path(image) for image in images if not is_url(image)]
    resolved = {path.resolve(): path for path in inputs}
    identities = {}
    for path in inputs:
        try:
            status = path.stat()
        except OSError:
            continue  # a missing input fails on its own later; nothing to overwrite
        identities[(status.st_dev, status.st_ino)] = path
    for output in outputs:
        clash = resolved.get(output.resolve())
        if clash is None:
            try:
                status = output.stat()
            except OSError:
                continue
            clash = identities.get((status.st_dev, status.st_ino))
        if clash is not None:
            raise UsageError(
                f"output {str(output)!r} is the input photo {str(clash)!r}: refusing to overwrite it; "
                "write the outputs elsewhere (another directory or a {stem} pattern)"
            )


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def expand_inputs(images: Sequence[str]) -> list[str]:
    """Photos from the command line: a directory stands for its photo files (by extension, sorted, not recursive)."""
    expanded = []
    for image in images:
        if not is_url(image) and Path(image).is_dir():
            photos = sorted(
                str(path) for path in Path(image).iterdir() if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES
            )
            if not photos:
                raise UsageError(f"{image!r} is a directory without photos ({', '.join(PHOTO_SUFFIXES)})")
            expanded.extend(photos)
        else:
            expanded.append(image)
    return expanded


def write_outputs(
    result: SegmentationResult | None,
    outputs: Sequence[Output],
    paths: Sequence[Path],
    legend: bool,
    *,
    photo: bytes | None = None,
    overlay: bytes | None = None,
) -> list[str]:
    """The mask and overlay files of one image; returns the paths written.

    The mask comes from ``result`` (the bundle). The overlay is ``overlay`` when the gateway painted it (a URL),
    else it is painted here from ``photo`` (a photo file) and the result's map.
    """
    written = []
    for output, path in zip(outputs, paths, strict=True):
        if output.response_format != "png" and overlay is not None:
            body = overlay
        else:
            if result is None or result.segmentation_map is None:
                raise ValueError("the gateway's answer has no segmentation_map")
            if output.response_format == "png":
                body = encode_mask_png(result.segmentation_map, result.labels)
            else:
                image_format = "PNG" if output.response_format == "overlay" else "JPEG"
                body = paint_overlay(photo or b"", result.segmentation_map, result.labels, legend, image_format)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        written.append(str(path))
    return written


def paint_overlay(
    photo: bytes, segmentation_map: np.ndarray, labels: Sequence[str], legend: bool, image_format: str
) -> bytes:
    """The gateway's overlay (same code), painted here on the photo at its own size."""
    from client.decoding import decode_photo
    from gateway.results.overlay import render_overlay
    from gateway.results.resize import resize_map

    picture = decode_photo(photo)
    return render_overlay(
        picture, resize_map(segmentation_map, picture.size), labels, legend=legend, image_format=image_format
    )


def run(args: argparse.Namespace) -> int:
    outputs = outputs_from(args)
    summary = args.summary or not outputs
    images = expand_inputs(args.images)
    plan = plan_paths(outputs, images)
    overlay_format = next((output.response_format for output in outputs if output.response_format != "png"), None)
    # A URL needs the bundle only for a mask or a summary; its overlay is the gateway's own.
    url_bundle = summary or any(output.response_format == "png" for output in outputs)
    total, failed = len(images), 0
    client = SegmentationClient(args.gateway, timeout=args.timeout, api_key=args.api_key, retries=args.retries)
    photos: dict[int, bytes | Exception] = {}  # photo files that an overlay is painted on here
    asked: list[int] = []  # the images sent, in order: iter_segment's positions are indices into this

    def sent() -> Iterator[ImageInput]:
        """The images to segment, read as iter_segment asks for them (a batch or so ahead of the writing)."""
        for index, image in enumerate(images):
            if overlay_format is not None and not is_url(image):
                try:
                    photos[index] = Path(image).read_bytes()
                except OSError as error:
                    photos[index] = error
                    continue
            if url_bundle or not is_url(image):
                asked.append(index)
                # A photo file read here is sent as it is: one read, and the overlay matches the mask.
                photo = photos.get(index)
                yield photo if isinstance(photo, bytes) else image

    def finish(index: int, bundle: SegmentationResult | Exception | None) -> None:
        """Write image ``index``'s files and summary and report it (its failure counted)."""
        nonlocal failed
        image = images[index]
        try:
            photo = photos.pop(index, None)
            if isinstance(photo, Exception):
                raise photo
            if isinstance(bundle, Exception):
                raise bundle
            overlay = None
            if overlay_format is not None and is_url(image):  # the gateway fetches the URL and paints it
                overlay = client.overlay(
                    image,
                    backend=args.backend,
                    model=args.model,
                    legend=args.legend,
                    image_format="PNG" if overlay_format == "overlay" else "JPEG",
                )
            done = write_outputs(bundle, outputs, plan[index], args.legend, photo=photo, overlay=overlay)
            if summary:
                print(json.dumps({"input": image, **((bundle.summary if bundle else None) or {})}), flush=True)
                done.append("summary")
            status = "ok: " + ", ".join(done)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise GatewayUnreachable(f"cannot reach the gateway at {args.gateway}: {error}") from error
        except (OSError, ValueError, GatewayError, ServiceError, httpx.HTTPError) as error:
            failed += 1
            status = f"FAILED: {error}"
        if not args.quiet or status.startswith("FAILED"):
            print(f"[{index + 1}/{total}] {image}: {status}", file=sys.stderr, flush=True)

    written = 0  # images 0 .. written-1 are done
    try:
        # The stages overlap: a request (up to DEFAULT_IN_FLIGHT) is in flight while the previous answers are
        # written here; a request that fails as a whole fails its images alone (fail_alone), the others go on.
        outcomes = client.iter_segment(
            sent(),
            backend=args.backend,
            model=args.model,
            mask_size=args.mask_size,
            batch_size=args.batch_size,
            fail_alone=True,
        )
        try:
            for position, outcome in outcomes:
                index = asked[position]
                for skipped in range(written, index):  # not sent: a photo that could not be read, a URL's overlay
                    finish(skipped, None)
                finish(index, outcome)
                written = index + 1
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise GatewayUnreachable(f"cannot reach the gateway at {args.gateway}: {error}") from error
        finally:
            outcomes.close()
        for index in range(written, total):
            finish(index, None)
    finally:
        client.close()
    if failed and not args.quiet:
        print(f"{failed} of {total} images failed", file=sys.stderr)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on bad options
    try:
        return run(args)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"segment: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except GatewayUnreachable as error:
        print(f"segment: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
