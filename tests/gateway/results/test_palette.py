import numpy as np

from gateway.results.palette import colour_of, hex_colour, mask_image, pil_palette, voc_palette


def test_known_voc_colours():
    # Values from the PASCAL VOC devkit's colour map.
    assert colour_of(0) == (0, 0, 0)
    assert colour_of(1) == (128, 0, 0)
    assert colour_of(12) == (64, 0, 128)  # dog
    assert colour_of(15) == (192, 128, 128)  # person
    assert colour_of(255) == (224, 224, 192)  # void
    assert hex_colour(15) == "#c08080"


def test_palette_colours_are_distinct_for_voc_classes():
    assert len({tuple(colour) for colour in voc_palette()[:21]}) == 21
    assert len(pil_palette()) == 256 * 3


def test_the_mask_picture_colours_each_pixel():
    segmentation_map = np.array([[0, 12], [15, 1]], dtype=np.uint8)
    picture = np.asarray(mask_image(segmentation_map).convert("RGB"))
    assert picture.shape == (2, 2, 3)
    assert tuple(picture[0, 1]) == (64, 0, 128)
    assert tuple(picture[1, 0]) == (192, 128, 128)
