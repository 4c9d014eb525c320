"""The comparison picture: original | TorchScript map | ONNX Runtime map per photo, numbers printed on it.

Drawn with Pillow only (no matplotlib dependency for one figure).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .parity import Agreement, ParityReport
from .photos import Photo

ROW_HEIGHT = 240
TITLE_HEIGHT = 20
MIN_CELL_WIDTH, MAX_CELL_WIDTH = 180, 400
GAP = 8
BACKGROUND = (250, 250, 250)
INK = (20, 20, 20)
MUTED = (90, 90, 90)
WARNING_RED = (200, 20, 20)
PASS_GREEN = (20, 130, 40)


@lru_cache(maxsize=None)
def voc_palette(size: int = 256) -> np.ndarray:
    """PASCAL VOC's colour map (class i -> the bit-interleaved colour every VOC tool uses; 0 = black)."""
    palette = np.zeros((size, 3), dtype=np.uint8)
    for index in range(size):
        value, red, green, blue = index, 0, 0, 0
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (red, green, blue)
    return palette


def colour_map(segmentation_map: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """Class map -> palette colours, resized (nearest: no invented classes) to (width, height)."""
    return Image.fromarray(voc_palette()[segmentation_map]).resize(size, Image.Resampling.NEAREST)


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class PhotoRow:
    photo: Photo
    torchscript_map: np.ndarray  # UINT8 [H,W] at the model's input size
    onnx_map: np.ndarray
    torchscript_vs_eager: Agreement
    onnx_vs_eager: Agreement
    onnx_vs_torchscript: Agreement
    class_fractions: dict[str, float]


def draw_comparison(report: ParityReport, rows: list[PhotoRow], labels: tuple[str, ...]) -> Image.Image:
    cell_widths = [_cell_width(row.photo) for row in rows]
    width = max([3 * w + 4 * GAP for w in cell_widths] + [1000])
    header_height = 100 if report.weights_are_random else 60
    row_block = TITLE_HEIGHT + ROW_HEIGHT + 56
    footer_height = 80
    canvas = Image.new("RGB", (width, header_height + row_block * len(rows) + footer_height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)

    y = _draw_header(draw, report, width)
    for row, cell_width in zip(rows, cell_widths):
        _draw_row(canvas, draw, row, cell_width, y, labels)
        y += row_block
    _draw_footer(draw, report, y)
    return canvas


def _cell_width(photo: Photo) -> int:
    aspect = photo.image.width / photo.image.height
    return int(min(MAX_CELL_WIDTH, max(MIN_CELL_WIDTH, ROW_HEIGHT * aspect)))


def _draw_header(draw: ImageDraw.ImageDraw, report: ParityReport, width: int) -> int:
    y = GAP
    draw.text((GAP, y), f"Parity of the exported '{report.family}' models: eager PyTorch vs TorchScript vs ONNX Runtime",
              fill=INK, font=font(22))
    y += 30
    timing = "   ".join(f"{name}: {ms:.0f} ms/image" for name, ms in report.ms_per_image.items() if ms is not None)
    draw.text((GAP, y), f"weights: {report.weights}    CPU, {report.threads} thread(s), batch 1:  {timing}",
              fill=MUTED, font=font(15))
    y += 24
    if report.weights_are_random:
        draw.rectangle((0, y, width, y + 32), fill=WARNING_RED)
        draw.text((GAP, y + 5), "RANDOM WEIGHTS: the maps are meaningless; this picture shows only that the "
                  "backends agree", fill=(255, 255, 255), font=font(19))
        y += 40
    return y + 6


def _draw_row(canvas: Image.Image, draw: ImageDraw.ImageDraw, row: PhotoRow, cell_width: int, y: int,
              labels: tuple[str, ...]) -> None:
    size = (cell_width, ROW_HEIGHT)
    cells = {"original": row.photo.image.resize(size, Image.Resampling.BILINEAR),
             "TorchScript map": colour_map(row.torchscript_map, size),
             "ONNX Runtime map": colour_map(row.onnx_map, size)}
    for index, (title, cell) in enumerate(cells.items()):
        x = GAP + index * (cell_width + GAP)
        draw.text((x, y), title, fill=MUTED, font=font(14))
        canvas.paste(cell, (x, y + TITLE_HEIGHT))
    y += TITLE_HEIGHT
    text_y = y + ROW_HEIGHT + 4
    ts, ox, cross = row.torchscript_vs_eager, row.onnx_vs_eager, row.onnx_vs_torchscript
    draw.text((GAP, text_y),
              f"{row.photo.name} ({row.photo.image.width}x{row.photo.image.height})   "
              f"max|dlogit| vs eager: TS {ts.max_abs_logit_diff:.1e}, ONNX {ox.max_abs_logit_diff:.1e}   "
              f"L2 dprob: TS {ts.mean_l2_probability_diff:.1e}, ONNX {ox.mean_l2_probability_diff:.1e}   "
              f"same map pixels TS/ONNX: {cross.identical_map_fraction:.3%}",
              fill=INK, font=font(14))
    _draw_legend(draw, row.class_fractions, labels, GAP, text_y + 22)


def _draw_legend(draw: ImageDraw.ImageDraw, fractions: dict[str, float], labels: tuple[str, ...], x: int,
                 y: int) -> None:
    """Swatches for the classes present (largest first), so a reader can name every colour."""
    index_of = {label: i for i, label in enumerate(labels)}
    for label, fraction in list(fractions.items())[:8]:
        colour = tuple(int(c) for c in voc_palette()[index_of[label]])
        draw.rectangle((x, y + 2, x + 14, y + 16), fill=colour, outline=MUTED)
        text = f"{label} {fraction:.0%}"
        draw.text((x + 19, y), text, fill=INK, font=font(15))
        x += 19 + int(draw.textlength(text, font=font(15))) + 16


def _draw_footer(draw: ImageDraw.ImageDraw, report: ParityReport, y: int) -> None:
    t = report.tolerances
    verdict = "PASS" if report.passed else f"FAIL ({len(report.failures)} problems, see report.json)"
    draw.text((GAP, y + 6), f"parity: {verdict}", fill=PASS_GREEN if report.passed else WARNING_RED, font=font(20))
    draw.text((GAP, y + 32), f"tolerances: max|dlogit| <= {t.max_abs_logit_diff:g}, mean L2 dprob <= "
              f"{t.mean_l2_probability_diff:g}, identical map pixels >= {t.min_identical_map_fraction:.1%}",
              fill=MUTED, font=font(14))
    worst = "   ".join(f"{_short(pair)}: {a.max_abs_logit_diff:.1e} / {a.identical_map_fraction:.3%}"
                       for pair, a in report.worst_by_pair().items())
    draw.text((GAP, y + 52), f"worst over photos + random inputs (max|dlogit| / same pixels):  {worst}",
              fill=MUTED, font=font(14))


def _short(pair: str) -> str:
    return pair.replace("onnxruntime", "ONNX").replace("torchscript", "TS").replace("_vs_", " vs ")
