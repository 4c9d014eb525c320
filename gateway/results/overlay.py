"""``response_format=overlay`` / ``overlay_jpeg``: the photo with its classes painted over it.

Always at the photo's own size (a picture of the photo, not of the model's input). Pixels of the
background class are left as they are, so the photo stays readable; every other class is blended
with its VOC colour. The optional legend is drawn inside the picture (top-left), so the overlay keeps
exactly the photo's width and height.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gateway.domain import class_name
from gateway.results.palette import colour_of, pil_palette

OPACITY = 0.5  # weight of the class colour in a blended pixel
JPEG_QUALITY = 90
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


def background_class(labels: Sequence[str]) -> int | None:
    return 0 if labels and labels[0].strip().lower() in {"background", "__background__"} else None


def blend(
    photo: Image.Image, segmentation_map: np.ndarray, labels: Sequence[str], opacity: float = OPACITY
) -> Image.Image:
    """RGB ``photo`` with the map (same size as the photo, [H, W]) blended in.

    Pillow's own blend and composite (integer C loops): ~10× faster than float arrays on a 12 MP photo.
    """
    rgb = photo.convert("RGB")
    classes = Image.fromarray(np.ascontiguousarray(segmentation_map, dtype=np.uint8))
    classes.putpalette(pil_palette())  # class index → its VOC colour
    painted = Image.blend(rgb, classes.convert("RGB"), opacity)
    background = background_class(labels)
    if background is None:
        return painted
    return Image.composite(painted, rgb, Image.fromarray(((segmentation_map != background) * 255).astype(np.uint8)))


def legend_entries(segmentation_map: np.ndarray, labels: Sequence[str]) -> list[tuple[int, str]]:
    """(class id, "name 42%") for each class present, largest first."""
    counts = np.bincount(segmentation_map.reshape(-1), minlength=len(labels))
    total = segmentation_map.size
    present = sorted(np.flatnonzero(counts), key=lambda class_id: -counts[class_id])
    return [(int(c), f"{class_name(labels, int(c))} {100 * counts[c] / total:.1f}%") for c in present]


def draw_legend(picture: Image.Image, entries: Sequence[tuple[int, str]]) -> Image.Image:
    """Swatches and names in a translucent box in the top-left corner, scaled to the picture."""
    if not entries:
        return picture
    font_size = max(10, min(picture.size) // 28)
    font = ImageFont.load_default(size=font_size)
    pad, gap = font_size // 2, font_size // 3
    line_height = font_size + gap
    text_width = max(int(font.getlength(text)) for _, text in entries)
    box = (pad, pad, pad * 3 + font_size + gap + text_width, pad * 3 + line_height * len(entries) - gap)

    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rounded_rectangle(box, radius=pad, fill=(0, 0, 0, 150))
    for row, (class_id, text) in enumerate(entries):
        top = pad * 2 + row * line_height
        swatch = (pad * 2, top, pad * 2 + font_size, top + font_size)
        draw.rectangle(swatch, fill=(*colour_of(class_id), 255), outline=(255, 255, 255, 255))
        draw.text((swatch[2] + gap, top + font_size / 2), text, font=font, fill=(255, 255, 255, 255), anchor="lm")
    return Image.alpha_composite(picture.convert("RGBA"), layer).convert("RGB")


def render_overlay(
    photo: Image.Image, segmentation_map: np.ndarray, labels: Sequence[str], *, legend: bool, image_format: str
) -> bytes:
    """Encoded overlay (``image_format`` PNG or JPEG); ``segmentation_map`` is at the photo's size."""
    picture = blend(photo, segmentation_map, labels)
    if legend:
        picture = draw_legend(picture, legend_entries(segmentation_map, labels))
    buffer = io.BytesIO()
    options = {"quality": JPEG_QUALITY} if image_format == "JPEG" else {}
    picture.save(buffer, format=image_format, **options)
    return buffer.getvalue()
