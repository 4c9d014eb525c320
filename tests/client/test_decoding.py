"""client.decoding: the gateway's decoder under the client's own limits, which no GATEWAY_* variable changes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from client import decoding
from client.triton_client import model_input
from gateway.core.config import Settings
from gateway.errors import TooLarge
from gateway.images import decode_with_limits, to_model_input
from tests.support.images import encode, png_claiming


def test_the_client_limits_are_the_gateway_defaults() -> None:
    assert Settings.model_fields["max_upload_bytes"].default == decoding.MAX_IMAGE_BYTES
    assert Settings.model_fields["max_image_pixels"].default == decoding.MAX_IMAGE_PIXELS


def test_the_client_decodes_as_the_gateway_does() -> None:
    data = encode(Image.new("RGBA", (30, 20), (10, 20, 30, 0)), "PNG")
    ours = decoding.decode_photo(data)
    assert ours.mode == "RGB" and ours.getpixel((0, 0)) == (255, 255, 255)
    assert np.array_equal(np.asarray(ours), np.asarray(decode_with_limits(data, max_pixels=10**9)))
    expected = to_model_input(decode_with_limits(data, max_pixels=10**9), (8, 8))
    assert np.array_equal(model_input(data, (8, 8)), expected)


def test_the_client_limits_hold() -> None:
    with pytest.raises(TooLarge):
        decoding.decode_photo(png_claiming(8000, 8000))  # 64 M pixels
    with pytest.raises(TooLarge):
        decoding.decode_photo(b"\xff\xd8\xff" + bytes(decoding.MAX_IMAGE_BYTES))


def test_gateway_variables_do_not_change_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_MAX_IMAGE_PIXELS", "1")
    monkeypatch.setenv("GATEWAY_MAX_UPLOAD_BYTES", "1")
    data = encode(Image.new("RGB", (30, 20), (1, 2, 3)), "PNG")
    assert decoding.decode_photo(data).size == (30, 20)
    assert model_input(data, (8, 8)).shape == (3, 8, 8)
