import io

import numpy as np
from PIL import Image

from gateway.results.overlay import OPACITY, blend, draw_legend, legend_entries, render_overlay
from gateway.results.palette import colour_of


def test_blend_colours_classes_and_leaves_background_alone(quarters_map, voc_labels):
    photo = Image.new("RGB", (16, 16), (200, 200, 200))
    pixels = np.asarray(blend(photo, quarters_map, voc_labels))
    assert tuple(pixels[0, 0]) == (200, 200, 200)
    expected_dog = tuple(round(200 * (1 - OPACITY) + channel * OPACITY) for channel in colour_of(12))
    assert tuple(pixels[0, 15]) == expected_dog


def test_legend_lists_present_classes_largest_first(quarters_map, voc_labels):
    entries = legend_entries(quarters_map, voc_labels)
    assert [class_id for class_id, _ in entries] == [0, 12, 15]
    assert entries[1][1] == "dog 25.0%"


def test_legend_draws_inside_the_picture_and_changes_it():
    picture = Image.new("RGB", (300, 200), (255, 255, 255))
    drawn = draw_legend(picture, [(12, "dog 25.0%"), (15, "person 25.0%")])
    assert drawn.size == picture.size
    assert np.asarray(drawn)[:, :100].mean() < 255  # something was drawn top-left
    assert (np.asarray(drawn)[150:, 200:] == 255).all()  # and nothing far from it


def test_render_overlay_encodes_png_and_jpeg_at_the_maps_size(quarters_map, voc_labels):
    photo = Image.new("RGB", (16, 16), (10, 20, 30))
    for image_format in ("PNG", "JPEG"):
        body = render_overlay(photo, quarters_map, voc_labels, legend=True, image_format=image_format)
        decoded = Image.open(io.BytesIO(body))
        assert decoded.format == image_format
        assert decoded.size == (16, 16)
