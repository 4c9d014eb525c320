"""decode_image / to_model_input: formats by bytes, bombs before decoding, bad data, every mode, EXIF, draft."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.core.config import Settings
from gateway.errors import BadRequest, TooLarge, UnsupportedMedia
from gateway.images import decode_image, decode_with_limits, sniff_format, to_model_input
from tests.support.images import encode, png_claiming

pytestmark = pytest.mark.timeout(60)

SETTINGS = Settings()
SHARED = Path(os.environ.get("SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))


def pixel(image: Image.Image) -> tuple[int, int, int]:
    return image.getpixel((0, 0))


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("1", encode(Image.new("1", (3, 2), 1), "PNG"), (255, 255, 255)),
        ("L", encode(Image.new("L", (3, 2), 100), "PNG"), (100, 100, 100)),
        ("LA transparent → white", encode(Image.new("LA", (3, 2), (0, 0)), "PNG"), (255, 255, 255)),
        ("LA opaque", encode(Image.new("LA", (3, 2), (40, 255)), "PNG"), (40, 40, 40)),
        ("RGBA transparent → white", encode(Image.new("RGBA", (3, 2), (10, 20, 30, 0)), "PNG"), (255, 255, 255)),
        ("RGBA opaque", encode(Image.new("RGBA", (3, 2), (10, 20, 30, 255)), "PNG"), (10, 20, 30)),
        ("P with transparency", encode(Image.new("P", (3, 2), 0), "PNG", transparency=0), (255, 255, 255)),
        ("P opaque", encode(Image.new("RGB", (3, 2), (255, 0, 0)).convert("P"), "PNG"), (255, 0, 0)),
        ("I;16 full range", encode(Image.fromarray(np.full((2, 3), 65535, np.uint16)), "PNG"), (255, 255, 255)),
        ("I;16 mid", encode(Image.fromarray(np.full((2, 3), 257 * 100, np.uint16)), "PNG"), (100, 100, 100)),
        ("I in 8-bit range", encode(Image.fromarray(np.full((2, 3), 77, np.int32)), "TIFF"), (77, 77, 77)),
        ("I in 16-bit range", encode(Image.fromarray(np.full((2, 3), 257 * 9, np.int32)), "TIFF"), (9, 9, 9)),
        ("F 0..1", encode(Image.fromarray(np.full((2, 3), 0.5, np.float32)), "TIFF"), (128, 128, 128)),
        ("BMP", encode(Image.new("RGB", (3, 2), (1, 2, 3)), "BMP"), (1, 2, 3)),
        ("WebP lossless", encode(Image.new("RGB", (3, 2), (9, 99, 199)), "WEBP", lossless=True), (9, 99, 199)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_mode_becomes_rgb(name: str, data: bytes, expected: tuple[int, int, int]) -> None:
    image = decode_image(data, SETTINGS)
    assert image.mode == "RGB"
    assert pixel(image) == expected, name
    assert image.info["original_size"] == (3, 2)


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=100)
    red, green, blue = pixel(decode_image(data, SETTINGS))
    assert red > 200 and green < 60 and blue < 60


def test_float_image_out_of_range_is_stretched() -> None:
    values = np.array([[-5.0, 0.0, 5.0]], np.float32)
    image = decode_image(encode(Image.fromarray(values), "TIFF"), SETTINGS)
    assert [image.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert pixel(decode_image(data, SETTINGS)) == (255, 0, 0)


def test_exif_orientation_is_applied_and_original_size_is_as_seen() -> None:
    stored = Image.new("RGB", (40, 20), (0, 0, 0))
    stored.paste((255, 255, 255), (0, 0, 20, 20))  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    image = decode_image(encode(stored, "JPEG", exif=exif, quality=95), SETTINGS)
    assert image.size == (20, 40)
    assert image.info["original_size"] == (20, 40)
    assert sum(image.getpixel((10, 5))) > 600  # the white half is now on top
    assert sum(image.getpixel((10, 35))) < 100


def test_one_pixel_image_is_upscaled() -> None:
    image = decode_image(encode(Image.new("RGB", (1, 1), (7, 8, 9)), "PNG"), SETTINGS)
    tensor = to_model_input(image, (512, 512))
    assert tensor.shape == (3, 512, 512)
    assert (tensor[:, 100, 200] == [7, 8, 9]).all()


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", BadRequest, "empty"),
        (b"hello, I am text pretending to be a .jpg", UnsupportedMedia, "text"),
        (b"<!DOCTYPE html><html><body>not an image</body></html>", UnsupportedMedia, "HTML"),
        (b"%PDF-1.7 ...", UnsupportedMedia, "PDF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", UnsupportedMedia, "SVG"),
        (encode(Image.new("RGB", (4, 4)), "ICO"), UnsupportedMedia, "not an image"),
        (encode(Image.new("RGB", (64, 64), (50, 60, 70)), "JPEG")[:300], BadRequest, "truncated"),
        (encode(Image.new("RGB", (64, 64), (50, 60, 70)), "PNG")[:60], BadRequest, "PNG image is"),
        (b"\xff\xd8\xff" + os.urandom(200), BadRequest, "JPEG image is"),
        (png_claiming(0, 10), BadRequest, "PNG image"),
        (png_claiming(8000, 8000), TooLarge, "64000000 pixels"),
        (png_claiming(100_000, 100_000), TooLarge, "pixels"),
    ],
    ids=[
        "empty",
        "text",
        "html",
        "pdf",
        "svg",
        "ico",
        "truncated-jpeg",
        "truncated-png",
        "corrupt-jpeg",
        "zero-width",
        "bomb-over-setting",
        "bomb-over-pillow",
    ],
)
def test_bad_data_is_refused_naming_the_problem(data: bytes, error: type, words: str) -> None:
    with pytest.raises(error) as caught:
        decode_image(data, SETTINGS)
    assert words in caught.value.detail


def test_pixel_limit_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    small = encode(Image.new("L", (100, 100)), "PNG")

    def no_decoding(_self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    with pytest.raises(TooLarge):
        decode_image(png_claiming(8000, 8000), SETTINGS)
    with pytest.raises(TooLarge):
        decode_image(small, Settings(max_image_pixels=9_999))


def test_byte_limit_applies_to_the_image_itself() -> None:
    data = encode(Image.effect_noise((64, 64), 60), "PNG")
    assert len(data) > 1000
    with pytest.raises(TooLarge, match="over the limit of 100 bytes"):
        decode_image(data, Settings(max_upload_bytes=100))


def test_format_is_judged_by_bytes() -> None:
    assert sniff_format(encode(Image.new("RGB", (2, 2)), "PNG")) == "PNG"
    assert sniff_format(encode(Image.new("RGB", (2, 2)), "WEBP")) == "WEBP"
    assert sniff_format(encode(Image.new("RGB", (2, 2)), "TIFF")) == "TIFF"
    assert sniff_format(b"GIF89a") == "GIF"
    assert sniff_format(b"RIFF\0\0\0\0WAVE") is None


def test_to_model_input_layout() -> None:
    image = Image.new("RGB", (30, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 10, 30, 20))  # bottom half blue
    tensor = to_model_input(image, (64, 48))
    assert tensor.shape == (3, 64, 48) and tensor.dtype == np.uint8 and tensor.flags.c_contiguous
    assert tensor[:, 2, 5].tolist() == [255, 0, 0]
    assert tensor[:, 60, 5].tolist() == [0, 0, 255]


def test_to_model_input_is_the_resized_pixels_channel_first() -> None:
    pixels = np.random.default_rng(5).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    resized = np.asarray(image.resize((48, 64), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(to_model_input(image, (64, 48)), resized.transpose(2, 0, 1))
    np.testing.assert_array_equal(to_model_input(image, (37, 53)), pixels.transpose(2, 0, 1))  # no resize


def test_large_jpeg_is_drafted_but_keeps_its_original_size() -> None:
    photo = Image.radial_gradient("L").resize((2048, 1536)).convert("RGB")
    data = encode(photo, "JPEG", quality=90)
    full = decode_image(data, SETTINGS)
    drafted = decode_image(data, SETTINGS, draft_size=(256, 256))
    assert full.size == (2048, 1536)
    assert drafted.size == (512, 384)  # 1/4 scale: the smallest still ≥ 256 on both sides
    assert drafted.info["original_size"] == (2048, 1536)
    small, big = (to_model_input(image, (256, 256)).astype(int) for image in (drafted, full))
    assert np.abs(small - big).mean() < 2


def test_drafting_respects_exif_rotation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    data = encode(Image.new("RGB", (2000, 1000), (90, 90, 90)), "JPEG", exif=exif)
    image = decode_image(data, SETTINGS, draft_size=(600, 300))  # (H, W) as viewed: tall
    assert image.info["original_size"] == (1000, 2000)
    width, height = image.size
    assert width >= 300 and height >= 600 and width < 1000


@pytest.mark.skipif(not (SHARED / "images" / "people.jpg").exists(), reason="shared photos not present")
def test_real_photo() -> None:
    data = (SHARED / "images" / "people.jpg").read_bytes()
    image = decode_image(data, SETTINGS, draft_size=(512, 512))
    assert image.info["original_size"] == (2842, 4263)
    assert min(image.size) >= 512
    assert to_model_input(image, (512, 512)).shape == (3, 512, 512)


def test_the_explicit_decoder_takes_its_limits_as_arguments() -> None:
    data = encode(Image.effect_noise((64, 64), 60), "PNG")
    assert decode_with_limits(data, max_pixels=64 * 64).size == (64, 64)
    with pytest.raises(TooLarge, match="4096 pixels, over the limit of 4095"):
        decode_with_limits(data, max_pixels=64 * 64 - 1)
    with pytest.raises(TooLarge, match="over the limit of 100 bytes"):
        decode_with_limits(data, max_pixels=64 * 64, max_bytes=100)


def test_the_gateway_decoder_is_the_explicit_one_under_its_settings() -> None:
    data = encode(Image.new("RGB", (900, 300), (10, 20, 30)), "JPEG", quality=95)
    for draft_size in (None, (100, 100)):
        ours = decode_image(data, SETTINGS, draft_size=draft_size)
        explicit = decode_with_limits(data, max_pixels=SETTINGS.max_image_pixels, draft_size=draft_size)
        assert ours.size == explicit.size and ours.info["original_size"] == explicit.info["original_size"]
        assert np.array_equal(np.asarray(ours), np.asarray(explicit))
