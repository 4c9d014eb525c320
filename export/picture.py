"""The comparison picture: original | TorchScript map | ONNX Runtime map per photo, numbers printed on it.

Drawn with Pillow only (no matplotlib dependency for one figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

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


@cache
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


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
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
    header, footer = _header_lines(report), _footer_lines(report)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_width = max(measure.textlength(line.text, font=font(line.size)) for line in (*header, *footer))
    width = int(max([3 * w + 4 * GAP for w in cell_widths] + [text_width + 2 * GAP]))
    row_block = TITLE_HEIGHT + ROW_HEIGHT + 56
    height = sum(line.height for line in header) + row_block * len(rows) + sum(line.height for line in footer) + 2 * GAP
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)

    y = _draw_lines(draw, header, GAP, width)
    for row, cell_width in zip(rows, cell_widths, strict=True):
        _draw_row(canvas, draw, row, cell_width, y, labels)
        y += row_block
    _draw_lines(draw, footer, y, width)
    return canvas


@dataclass(frozen=True)
class Line:
    text: str
    size: int
    colour: tuple[int, int, int] = INK
    banner: tuple[int, int, int] | None = None  # background colour across the whole width

    @property
    def height(self) -> int:
        return self.size + (18 if self.banner else 9)


def _draw_lines(draw: ImageDraw.ImageDraw, lines: list[Line], y: int, width: int) -> int:
    for line in lines:
        if line.banner:
            draw.rectangle((0, y, width, y + line.height - 4), fill=line.banner)
            draw.text((GAP, y + 5), line.text, fill=line.colour, font=font(line.size))
        else:
            draw.text((GAP, y), line.text, fill=line.colour, font=font(line.size))
        y += line.height
    return y


def _cell_width(photo: Photo) -> int:
    aspect = photo.image.width / photo.image.height
    return int(min(MAX_CELL_WIDTH, max(MIN_CELL_WIDTH, ROW_HEIGHT * aspect)))


def _header_lines(report: ParityReport) -> list[Line]:
    timing = "   ".join(f"{name}: {ms:.0f} ms/image" for name, ms in report.ms_per_image.items() if ms is not None)
    lines = [
        Line(f"Parity of the exported '{report.family}' models: eager PyTorch vs TorchScript vs ONNX Runtime", 22),
        Line(f"weights: {report.weights}", 15, MUTED),
        Line(f"in-process on CPU, {report.threads} thread(s), batch 1:   {timing}", 15, MUTED),
    ]
    if report.weights_are_random:
        lines.append(
            Line(
                "RANDOM WEIGHTS: the maps are meaningless; this picture shows only that the backends agree",
                19,
                (255, 255, 255),
                banner=WARNING_RED,
            )
        )
    return lines


def _footer_lines(report: ParityReport) -> list[Line]:
    t = report.tolerances
    verdict = "PASS" if report.passed else f"FAIL ({len(report.failures)} problems, see report.json)"
    lines = [
        Line(f"parity: {verdict}", 20, PASS_GREEN if report.passed else WARNING_RED),
        Line(
            f"tolerances: max|dlogit| <= {t.max_abs_logit_diff:g}, mean L2 dprob <= {t.mean_l2_probability_diff:g}, "
            f"identical map pixels >= {t.min_identical_map_fraction:.1%}",
            14,
            MUTED,
        ),
        Line("worst over photos + random inputs (max|dlogit| / mean L2 dprob / identical map pixels):", 14, MUTED),
    ]
    lines += [
        Line(
            f"    {_short(pair)}: {a.max_abs_logit_diff:.1e} / {a.mean_l2_probability_diff:.1e} / "
            f"{a.identical_map_fraction:.4%}",
            14,
            MUTED,
        )
        for pair, a in report.worst_by_pair().items()
    ]
    return lines


def _draw_row(
    canvas: Image.Image, draw: ImageDraw.ImageDraw, row: PhotoRow, cell_width: int, y: int, labels: tuple[str, ...]
) -> None:
    size = (cell_width, ROW_HEIGHT)
    cells = {
        "original": row.photo.image.resize(size, Image.Resampling.BILINEAR),
        "TorchScript map": colour_map(row.torchscript_map, size),
        "ONNX Runtime map": colour_map(row.onnx_map, size),
    }
    for index, (title, cell) in enumerate(cells.items()):
        x = GAP + index * (cell_width + GAP)
        draw.text((x, y), title, fill=MUTED, font=font(14))
        canvas.paste(cell, (x, y + TITLE_HEIGHT))
    y += TITLE_HEIGHT
    text_y = y + ROW_HEIGHT + 4
    ts, ox, cross = row.torchscript_vs_eager, row.onnx_vs_eager, row.onnx_vs_torchscript
    draw.text(
        (GAP, text_y),
        f"{row.photo.name} ({row.photo.image.width}x{row.photo.image.height})   "
        f"max|dlogit| vs eager: TS {ts.max_abs_logit_diff:.1e}, ONNX {ox.max_abs_logit_diff:.1e}   "
        f"L2 dprob: TS {ts.mean_l2_probability_diff:.1e}, ONNX {ox.mean_l2_probability_diff:.1e}   "
        f"same map pixels TS/ONNX: {cross.identical_map_fraction:.3%}",
        fill=INK,
        font=font(14),
    )
    _draw_legend(draw, row.class_fractions, labels, GAP, text_y + 22)


def _draw_legend(
    draw: ImageDraw.ImageDraw, fractions: dict[str, float], labels: tuple[str, ...], x: int, y: int
) -> None:
    """Swatches for the classes present (largest first), so a reader can name every colour."""
    index_of = {label: i for i, label in enumerate(labels)}
    for label, fraction in list(fractions.items())[:8]:
        colour = tuple(int(c) for c in voc_palette()[index_of[label]])
        draw.rectangle((x, y + 2, x + 14, y + 16), fill=colour, outline=MUTED)
        text = f"{label} {fraction:.0%}"
        draw.text((x + 19, y), text, fill=INK, font=font(15))
        x += 19 + int(draw.textlength(text, font=font(15))) + 16


def _short(pair: str) -> str:
    return pair.replace("onnxruntime", "ONNX").replace("torchscript", "TS").replace("_vs_", " vs ")
