"""bench.bulk's photos and bench.process_memory's PSS, in-process: no stack needed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from bench.bulk import cli_command, make_photos, source_photos
from bench.process_memory import pss_bytes, rss_bytes, stack_pss
from tests.support.paths import shared_dir


def pixels_digest(path: Path) -> str:
    with Image.open(path) as picture:
        return hashlib.sha1(np.asarray(picture).tobytes()).hexdigest()


def test_the_bulk_photos_are_distinct_deterministic_jpegs_cut_from_the_shared_photos(tmp_path: Path) -> None:
    sources = source_photos(shared_dir() / "images")
    assert len(sources) >= 2
    count = 16 * len(sources)  # 64 with the four shared photos
    paths = make_photos(sources, count, tmp_path / "a")
    assert len(paths) == count and all(path.parent == tmp_path / "a" for path in paths)
    assert len({pixels_digest(path) for path in paths}) == count  # every one a different picture
    with Image.open(paths[0]) as first:
        assert first.format == "JPEG"
    again = make_photos(sources, len(sources) + 1, tmp_path / "b")
    assert [path.read_bytes() for path in again] == [path.read_bytes() for path in paths[: len(sources) + 1]]


def test_make_photos_refuses_no_sources(tmp_path: Path) -> None:
    try:
        make_photos([], 4, tmp_path)
    except FileNotFoundError as error:
        assert "no source photos" in str(error)
    else:
        raise AssertionError("no error")


def test_the_cli_is_asked_for_a_summary_of_the_folder_on_the_benchs_gateway(tmp_path: Path) -> None:
    command = cli_command(tmp_path, "http://127.0.0.1:1234", "deeplabv3", 60.0)
    assert command[1:5] == ["-m", "client.cli", str(tmp_path), "--summary"]
    assert command[command.index("--gateway") + 1] == "http://127.0.0.1:1234"
    assert command[command.index("--model") + 1] == "deeplabv3"


def test_pss_of_a_process_is_at_most_its_rss_and_trees_add_up() -> None:
    pid = os.getpid()
    assert 0 < pss_bytes(pid) <= rss_bytes(pid)
    figures = stack_pss({"me": pid})
    assert figures["total_pss_mb"] == figures["trees"]["me"]["pss_mb"] > 0
    assert pss_bytes(2**22 + 12345) == 0  # no such process
