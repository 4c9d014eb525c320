"""How large an answer will be, computed before inference, and the one limit on it (settings.max_answer_bytes).

A small photo can ask for a huge answer: logits and distributions at the photo's own size are classes × width ×
height floats each, ~15 bytes apiece as JSON (a 324 KB JPEG of 1787×1788 pixels asked for everything at
``mask_size=original`` would be 1.6 GB of JSON). Every inference endpoint, single or batch, calls
``check_answer_size`` with the decoded photos' sizes before Triton is called, and a request whose answer
would pass the limit is refused with 413 naming both figures. The figures are upper bounds of what the
renderers write (gateway/results/), not guesses: a request under the limit never builds more than that.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.domain import CONFIDENCE_RESULT, SCORE_RESULTS, RenderOptions
from gateway.errors import TooLarge, format_size

# One float32 as JSON at most: sign, 9 significant digits, point, exponent, comma ("-1.2345678e-38,").
JSON_FLOAT_BYTES = 15
NPZ_FLOAT_BYTES = 4
# summary: a few hundred bytes a class, plus sizes, model and weights.
SUMMARY_BYTES = 16 * 1024
SUMMARY_BYTES_PER_CLASS = 256
# A palette PNG is at most its raw pixels plus zlib's and PNG's framing; base64 adds a third (bundle).
PNG_FRAMING_BYTES = 64 * 1024


def _json_map_value_bytes(classes: int) -> int:
    return len(str(max(classes - 1, 0))) + 1  # the largest class index and a comma


def _arrays_bytes(requested: Sequence[str], classes: int, pixels: int, float_bytes: int, map_bytes: int) -> int:
    def per_pixel(name: str) -> int:
        if name in SCORE_RESULTS:
            return classes * float_bytes
        return float_bytes if name == CONFIDENCE_RESULT else map_bytes  # one float plane, or the map

    return sum(per_pixel(name) * pixels for name in requested)


def answer_bytes(
    options: RenderOptions,
    requested: Sequence[str],
    classes: int,
    model_size: tuple[int, int],
    photo_size: tuple[int, int],
) -> int:
    """Upper bound of the bytes one image's answer takes in ``options.response_format``.

    ``model_size`` and ``photo_size`` are (width, height); the arrays are at ``photo_size`` with
    ``mask_size=original`` and always for the overlays.
    """
    width, height = photo_size if options.mask_size == "original" else model_size
    pixels = width * height
    summary = SUMMARY_BYTES + SUMMARY_BYTES_PER_CLASS * classes
    png = pixels + PNG_FRAMING_BYTES
    match options.response_format:
        case "json":
            return _arrays_bytes(requested, classes, pixels, JSON_FLOAT_BYTES, _json_map_value_bytes(classes))
        case "npz":
            return _arrays_bytes(requested, classes, pixels, NPZ_FLOAT_BYTES, 1)
        case "summary":
            return summary
        case "bundle":
            return summary + png * 4 // 3 + 4
        case "png":
            return png
        case _:  # overlay, overlay_jpeg: an RGB picture at the photo's size, at most its raw pixels
            return 3 * photo_size[0] * photo_size[1] + PNG_FRAMING_BYTES


def check_answer_size(
    options: RenderOptions,
    requested: Sequence[str],
    classes: int,
    model_size: tuple[int, int],
    photo_sizes: Sequence[tuple[int, int]],
    limit: int,
) -> int:
    """The answer's size for these photos (one, or a batch's); 413 naming it and the limit when it is over."""
    total = sum(answer_bytes(options, requested, classes, model_size, size) for size in photo_sizes)
    if total > limit:
        what = "these photos" if len(photo_sizes) > 1 else "this photo"
        hint = (
            "ask for fewer results (segmentation_map alone is smallest), mask_size=model, "
            "response_format=summary or png, or fewer files"
        )
        raise TooLarge(
            f"the answer for {what} would be about {format_size(total)} "
            f"({options.response_format}, mask_size={options.mask_size}), over the limit of "
            f"{format_size(limit)} (GATEWAY_MAX_ANSWER_BYTES); {hint}"
        )
    return total
