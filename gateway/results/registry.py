"""Response formats: ``response_format`` (or ``Accept``) → a renderer. ``mask_size`` resizing happens here too.

The core infer routes do, per request:
``fmt = negotiate(response_format, accept)`` → ask Triton for ``required_results(fmt, requested)`` →
``render(result, RenderOptions(fmt, mask_size, legend))``. Rendering is CPU work: call it off the loop.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from starlette.responses import Response

from gateway.domain import RESULT_TYPES, InferenceResult, RenderOptions, ResponseFormat
from gateway.errors import BadRequest, shown
from gateway.results.bundle import render_bundle
from gateway.results.json_format import render_json
from gateway.results.overlay import MEDIA_TYPES as OVERLAY_MEDIA_TYPES
from gateway.results.overlay import render_overlay
from gateway.results.palette import PNG_MEDIA_TYPE, encode_mask_png
from gateway.results.resize import original_size, sized
from gateway.results.summary import NEEDED_RESULTS as SUMMARY_RESULTS
from gateway.results.summary import SIZED_ARRAYS as SUMMARY_ARRAYS
from gateway.results.summary import render_summary


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    description: str
    render: Callable[[InferenceResult, RenderOptions], Response]  # takes the result at the answer's size
    fixed_results: tuple[str, ...] | None = None  # what it always needs; None = the requested results
    json_body: bool = False  # a JSON object, so it can be an item of a batch response
    # The arrays the renderer reads, brought to the answer's size once before it runs (None: the requested ones).
    sized_arrays: tuple[str, ...] | None = None
    at_photo_size: bool = False  # always at the photo's size, whatever mask_size says (the overlays)


def _render_json(result: InferenceResult, options: RenderOptions) -> Response:  # noqa: ARG001 - a renderer
    return render_json(result)


def _render_summary(result: InferenceResult, options: RenderOptions) -> Response:
    return render_summary(result, options.mask_size)


def _render_bundle(result: InferenceResult, options: RenderOptions) -> Response:
    return render_bundle(result, options.mask_size)


def _render_png(result: InferenceResult, options: RenderOptions) -> Response:  # noqa: ARG001 - a renderer
    body = encode_mask_png(result.arrays["segmentation_map"], result.model.labels)
    return _attachment(body, PNG_MEDIA_TYPE, "mask.png")


def _overlay_renderer(image_format: str, filename: str) -> Callable[[InferenceResult, RenderOptions], Response]:
    def render_overlay_response(result: InferenceResult, options: RenderOptions) -> Response:
        if result.original is None:
            raise BadRequest("an overlay needs the photo, and this result has none")
        size = original_size(result)
        photo = result.original if result.original.size == size else result.original.resize(size)
        body = render_overlay(
            photo,
            result.arrays["segmentation_map"],
            result.model.labels,
            legend=options.legend,
            image_format=image_format,
        )
        return _attachment(body, OVERLAY_MEDIA_TYPES[image_format], filename)

    return render_overlay_response


# ``response_format=npz``: ``np.load(io.BytesIO(body))`` gives one array per requested result type (``logits`` /
# ``pixels_distribution`` FP32 [C, H, W], ``segmentation_map`` uint8 [H, W]) plus ``labels`` (the class names, a
# unicode array: no pickle needed). Stored uncompressed: logits barely compress, and zlib on 22 MB would cost more
# time than the transfer it saves on a LAN.
NPZ_MEDIA_TYPE = "application/x-npz"


def _encode_npz(arrays: Mapping[str, np.ndarray], order: Sequence[str], labels: Sequence[str]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: arrays[name] for name in order}, labels=np.asarray(labels, dtype=str))
    return buffer.getvalue()


def _render_npz(result: InferenceResult, options: RenderOptions) -> Response:  # noqa: ARG001 - a renderer
    body = _encode_npz(result.arrays, result.requested, result.model.labels)
    return _attachment(body, NPZ_MEDIA_TYPE, "segmentation.npz")


def _attachment(body: bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'inline; filename="{filename}"'})


FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format(
            "json",
            "application/json",
            "the requested arrays as nested JSON lists (the default; what existing clients read)",
            _render_json,
            json_body=True,
        ),
        Format(
            "summary",
            "application/json",
            "compact JSON: classes present with names, pixel fractions and mean confidence; sizes, model, weights",
            _render_summary,
            fixed_results=SUMMARY_RESULTS,
            json_body=True,
            sized_arrays=SUMMARY_ARRAYS,
        ),
        Format(
            "bundle",
            "application/json",
            "the summary plus `labels` and `mask_png` (the png format's mask, base64): mask, overlay and "
            "summary from one inference",
            _render_bundle,
            fixed_results=SUMMARY_RESULTS,
            json_body=True,
            sized_arrays=SUMMARY_ARRAYS,
        ),
        Format(
            "png",
            PNG_MEDIA_TYPE,
            "the segmentation map as a VOC-palette PNG, pixel value = class index",
            _render_png,
            fixed_results=("segmentation_map",),
            sized_arrays=("segmentation_map",),
        ),
        Format(
            "overlay",
            OVERLAY_MEDIA_TYPES["PNG"],
            "the photo with the classes blended in, PNG, at the photo's size",
            _overlay_renderer("PNG", "overlay.png"),
            fixed_results=("segmentation_map",),
            sized_arrays=("segmentation_map",),
            at_photo_size=True,
        ),
        Format(
            "overlay_jpeg",
            OVERLAY_MEDIA_TYPES["JPEG"],
            "the same overlay as JPEG",
            _overlay_renderer("JPEG", "overlay.jpg"),
            fixed_results=("segmentation_map",),
            sized_arrays=("segmentation_map",),
            at_photo_size=True,
        ),
        Format(
            "npz", NPZ_MEDIA_TYPE, "the requested arrays, exact, as a NumPy .npz archive (plus `labels`)", _render_npz
        ),
    )
}

# Accept media types → format, for clients that negotiate instead of naming response_format.
# image/png means the mask (the overlay is asked for by name); */* and unknown types keep the default JSON.
ACCEPTED_MEDIA_TYPES: dict[str, ResponseFormat] = {
    "application/json": "json",
    "image/png": "png",
    "image/jpeg": "overlay_jpeg",
    "application/x-npz": "npz",
    "application/npz": "npz",
}

RESPONSE_FORMAT_DESCRIPTION = (
    "Response format; overrides `Accept`. "
    + "; ".join(f"`{fmt.name}`: {fmt.description}" for fmt in FORMATS.values())
    + ". Without it, `Accept: image/png` → png, `image/jpeg` → overlay_jpeg, `application/x-npz` → npz, "
    "anything else → json. "
    "summary/png/overlay compute what they need whatever `requested_results_types` says."
)
MASK_SIZE_DESCRIPTION = (
    "`model` (the default): arrays at the model's input size (512×512 for the default model; see "
    "GET /models). `original`: at the photo's own "
    "size; the segmentation map is resized nearest-neighbour, logits and distributions bilinearly per class "
    "(FP32; distributions still sum to 1). An answer over GATEWAY_MAX_ANSWER_BYTES (default 256 MiB; about "
    "15 bytes a score value as JSON) is refused with 413 before inference. Overlays are always at the photo's size."
)
LEGEND_DESCRIPTION = "Overlay formats: draw a legend (class colour, name, pixel share) in the top-left corner."


def allowed_formats() -> str:
    return ", ".join(FORMATS)


def negotiate(response_format: str | None, accept: str | None) -> ResponseFormat:
    """The format to answer in; raises gateway.errors.BadRequest naming an unknown format."""
    if response_format and response_format.strip():
        name = response_format.strip().lower()
        if name not in FORMATS:
            raise BadRequest(f"unknown response_format '{shown(response_format)}'; allowed: {allowed_formats()}")
        return cast(ResponseFormat, name)
    for media_type in _accepted_media_types(accept or ""):
        if media_type in ACCEPTED_MEDIA_TYPES:
            return ACCEPTED_MEDIA_TYPES[media_type]
    return "json"


def _accepted_media_types(accept: str) -> list[str]:
    """Media types of an Accept header, most preferred first (q=0 dropped, ties keep their order)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        media_type, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_type and quality > 0:
            ranked.append((-quality, position, media_type.lower()))
    return [media_type for _, _, media_type in sorted(ranked)]


def required_results(response_format: str, requested: tuple[str, ...]) -> tuple[str, ...]:
    """The result types to ask Triton for, to answer ``requested`` in ``response_format``."""
    fmt = FORMATS[response_format]
    return fmt.fixed_results if fmt.fixed_results is not None else tuple(requested or RESULT_TYPES)


def is_batchable(response_format: str) -> bool:
    """JSON formats can be items of a batch answer (POST /infer/files); binary ones cannot."""
    return FORMATS[response_format].json_body


def batchable_formats() -> str:
    return ", ".join(name for name, fmt in FORMATS.items() if fmt.json_body)


def at_answer_size(result: InferenceResult, options: RenderOptions) -> InferenceResult:
    """The arrays the format reads, at the size the answer is in: resized once, here (renderers never resize)."""
    fmt = FORMATS[options.response_format]
    names = result.requested if fmt.sized_arrays is None else fmt.sized_arrays
    return sized(result, "original" if fmt.at_photo_size else options.mask_size, names)


def render(result: InferenceResult, options: RenderOptions) -> Response:
    """The response for one result, in the format and at the size ``options`` (checked at the edge) ask for."""
    return FORMATS[options.response_format].render(at_answer_size(result, options), options)
