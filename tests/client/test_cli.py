"""The `segment` CLI as a user runs it: a subprocess against the running stack, files checked on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from client.cli import EXIT_OK, EXIT_SOME_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, main
from tests.support.gateway_metrics import inference_calls
from tests.support.paths import REPO_ROOT, shared_image
from tests.support.ports import free_ports

pytestmark = pytest.mark.timeout(600)


def segment(*args: str, timeout: float = 500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "client.cli", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "NO_PROXY": "*"},
    )


def test_one_photo_writes_mask_and_overlay_and_prints_a_summary(stack, tmp_path):
    photo = shared_image("dog1.jpg")
    mask, overlay = tmp_path / "mask.png", tmp_path / "overlay.jpg"
    run = segment(
        str(photo),
        "--backend",
        "onnx",
        "--gateway",
        stack.gateway_url,
        "--mask",
        str(mask),
        "--overlay",
        str(overlay),
        "--summary",
        "--mask-size",
        "original",
    )
    assert run.returncode == EXIT_OK, run.stderr
    size = Image.open(photo).size
    decoded_mask = Image.open(mask)
    assert (decoded_mask.format, decoded_mask.mode, decoded_mask.size) == ("PNG", "P", size)  # mask at the photo's size
    assert (Image.open(overlay).format, Image.open(overlay).size) == ("JPEG", size)
    summary = json.loads(run.stdout)
    assert summary["input"] == str(photo)
    ids, counts = np.unique(np.asarray(decoded_mask), return_counts=True)
    assert {entry["id"]: entry["pixel_count"] for entry in summary["classes"]} == dict(
        zip(ids.tolist(), counts.tolist(), strict=True)
    )


def test_many_photos_use_patterns_report_progress_and_fail_alone(stack, tmp_path):
    photos = [shared_image("dog1.jpg"), tmp_path / "missing.jpg", shared_image("dog2.jpg")]
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not an image")
    photos.append(not_an_image)
    run = segment(
        *map(str, photos),
        "--gateway",
        stack.gateway_url,
        "--mask",
        f"{tmp_path}/masks/",
        "--overlay",
        f"{tmp_path}/{{stem}}-overlay.png",
        "--mask-size",
        "model",
    )
    assert run.returncode == EXIT_SOME_FAILED, run.stderr
    for stem in ("dog1", "dog2"):
        assert Image.open(tmp_path / "masks" / f"{stem}.png").size == (512, 512)
        assert Image.open(tmp_path / f"{stem}-overlay.png").format == "PNG"
    assert not (tmp_path / "masks" / "notes.png").exists()
    progress = run.stderr.splitlines()
    assert progress[0].startswith("[1/4]") and "ok" in progress[0]
    assert "[2/4]" in run.stderr and "FAILED" in progress[1]
    assert "415" in progress[3] or "400" in progress[3]
    assert "2 of 4 images failed" in run.stderr
    assert run.stdout == ""  # without --summary, stdout stays clean for scripts


def test_a_directory_of_photos_takes_one_inference_per_batch_whatever_is_asked(stack, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("dog1.jpg", "dog2.jpg", "people.jpg"):
        (folder / name).write_bytes(shared_image(name).read_bytes())
    (folder / "notes.txt").write_text("not a photo: skipped")
    before = inference_calls(stack.gateway_url)
    run = segment(
        str(folder),
        "--gateway",
        stack.gateway_url,
        "--batch-size",
        "2",
        "--mask",
        f"{tmp_path}/out/",
        "--overlay",
        f"{tmp_path}/out/{{stem}}-overlay.png",
        "--summary",
    )
    assert run.returncode == EXIT_OK, run.stderr
    after = inference_calls(stack.gateway_url)
    # Three photos, two per batch: two requests and two Triton calls for masks, overlays and summaries.
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)
    summaries = [json.loads(line) for line in run.stdout.splitlines()]
    assert [Path(entry["input"]).name for entry in summaries] == ["dog1.jpg", "dog2.jpg", "people.jpg"]
    for entry in summaries:
        stem = Path(entry["input"]).stem
        mask = Image.open(tmp_path / "out" / f"{stem}.png")
        assert mask.size == (512, 512)  # the default mask size is the model's, as in the API
        ids, counts = np.unique(np.asarray(mask), return_counts=True)
        assert {c["id"]: c["pixel_count"] for c in entry["classes"]} == dict(
            zip(ids.tolist(), counts.tolist(), strict=True)
        )
        overlay = Image.open(tmp_path / "out" / f"{stem}-overlay.png")
        assert (overlay.format, overlay.size) == ("PNG", Image.open(shared_image(f"{stem}.jpg")).size)


def test_unreachable_gateway_exits_3():
    (port,) = free_ports(1)
    run = segment(str(shared_image("dog1.jpg")), "--gateway", f"http://127.0.0.1:{port}", timeout=60)
    assert run.returncode == EXIT_UNREACHABLE
    assert "cannot reach the gateway" in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["a.jpg", "b.jpg", "--mask", "mask.png"],  # two masks into one file
        ["a.jpg", "--overlay", "overlay.gif"],  # neither PNG nor JPEG
        ["a.jpg", "--mask", "mask.jpg"],  # masks are PNG
        ["a.jpg", "b.jpg", "--mask", "out/{nope}.png"],  # unknown pattern field
        ["a.jpg", "a.jpg", "--mask", "out/{stem}.png"],  # same name twice
        ["--backend", "tensorrt", "a.jpg"],  # argparse's own check
        [],
    ],
)
def test_usage_errors_exit_2_before_any_request(args, capsys):
    try:
        code = main(["--gateway", "http://127.0.0.1:9", *args])
    except SystemExit as exit_:  # argparse exits by itself
        code = exit_.code
    assert code == EXIT_USAGE
    assert "usage: segment" in capsys.readouterr().err


def test_help_documents_the_exit_codes():
    run = segment("--help", timeout=60)
    assert run.returncode == 0
    for line in ("0  every image", "1  some images failed", "2  usage error", "3  the gateway is unreachable"):
        assert line in run.stdout


@pytest.mark.parametrize(
    ("count", "outputs"),
    [
        (1, lambda tmp: ["--overlay", f"{tmp}/photos/a.jpg"]),  # the photo itself
        (2, lambda tmp: ["--overlay", f"{tmp}/photos/"]),  # a directory where the outputs land on the photos
        (2, lambda tmp: ["--mask", f"{tmp}/photos/{{stem}}.png"]),  # a pattern naming the PNG photo
        (2, lambda tmp: ["--overlay", f"{tmp}/photos/../photos/{{stem}}.jpg"]),  # the same file through ..
        (1, lambda tmp: ["--overlay", f"{tmp}/link.jpg"]),  # a symbolic link to the photo
        (1, lambda tmp: ["--overlay", f"{tmp}/hard.jpg"]),  # a hard link: another name, the same file
    ],
)
def test_an_output_that_is_an_input_photo_is_refused_before_any_request(count, outputs, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    photos = [folder / "a.jpg", folder / "b.png"]
    for photo in photos:
        photo.write_bytes(shared_image("dog1.jpg").read_bytes())
    (tmp_path / "link.jpg").symlink_to(photos[0])
    (tmp_path / "hard.jpg").hardlink_to(photos[0])
    before = [photo.read_bytes() for photo in photos]
    # Port 9 (discard) answers nothing: without the check the CLI would try it and exit 3, not 2.
    code = main(["--gateway", "http://127.0.0.1:9", *map(str, photos[:count]), *outputs(tmp_path)])
    assert code == EXIT_USAGE
    assert "input photo" in capsys.readouterr().err
    assert [photo.read_bytes() for photo in photos] == before


GATEWAY_USER_AGENT = "segmentation-gateway"  # gateway/fetch.py: how a fetch by the gateway introduces itself


@pytest.mark.parametrize(
    ("extra", "calls"),
    [
        (["--overlay", "o.png", "--no-legend"], 1),  # only the overlay: one request, the gateway's overlay
        (["--overlay", "o.png", "--mask", "m.png", "--summary"], 2),  # the bundle, then the overlay
    ],
)
def test_a_url_with_an_overlay_is_fetched_and_painted_by_the_gateway_never_here(
    extra, calls, stack, recording_photos, tmp_path
):
    url = f"{recording_photos.url}/dog2.jpg"
    before = inference_calls(stack.gateway_url)
    run = segment(url, "--gateway", stack.gateway_url, *(str(tmp_path / arg) if "." in arg else arg for arg in extra))
    assert run.returncode == EXIT_OK, run.stderr
    after = inference_calls(stack.gateway_url)
    assert (after[0] - before[0], after[1] - before[1]) == (calls, calls)
    # Every fetch of the photo was the gateway's, one per request: this machine downloaded nothing.
    assert recording_photos.requests == [("/dog2.jpg", GATEWAY_USER_AGENT)] * calls
    overlay = Image.open(tmp_path / "o.png")
    assert (overlay.format, overlay.size) == ("PNG", Image.open(shared_image("dog2.jpg")).size)
    legend = "false" if "--no-legend" in extra else "true"
    direct = httpx.post(
        f"{stack.gateway_url}/infer/url",
        trust_env=False,
        timeout=120,
        data={"url_image": url, "infer_model_type": "onnx", "response_format": "overlay", "legend": legend},
    )
    assert (tmp_path / "o.png").read_bytes() == direct.content  # the gateway's own overlay, legend as asked
    if "--mask" in extra:
        assert Image.open(tmp_path / "m.png").size == (512, 512)
        assert json.loads(run.stdout)["input"] == url
    else:
        assert run.stdout == ""


def test_a_url_the_gateway_refuses_fails_alike_whatever_is_asked(stack, refused_photos, tmp_path):
    url = f"{refused_photos.url}/dog2.jpg"
    for extra in (
        ["--summary"],
        ["--mask", "m.png"],
        ["--overlay", "o.png"],
        ["--overlay", "o.jpg", "--mask", "m.png"],
    ):
        run = segment(
            url, "--gateway", stack.gateway_url, *(str(tmp_path / arg) if "." in arg else arg for arg in extra)
        )
        assert run.returncode == EXIT_SOME_FAILED, (extra, run.stderr)
        # The gateway's 400 and its reason, reported as for any failed image.
        assert f"[1/1] {url}: FAILED: 400: " in run.stderr and "loopback" in run.stderr, (extra, run.stderr)
        assert "Traceback" not in run.stderr and run.stdout == ""
    assert list(tmp_path.iterdir()) == []
    assert refused_photos.requests == []  # nobody fetched it: the gateway refused, this machine did not try
    assert httpx.get(url, trust_env=False, timeout=10).status_code == 200  # and yet it is there to be fetched


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--retries", "-5", "an integer >= 0"),
        ("--retries", "1.5", "an integer >= 0"),
        ("--timeout", "-1", "a finite number of seconds > 0"),
        ("--timeout", "0", "a finite number of seconds > 0"),
        ("--timeout", "nan", "a finite number of seconds > 0"),
        ("--timeout", "inf", "a finite number of seconds > 0"),
        ("--batch-size", "0", "an integer >= 1"),
        ("--batch-size", "-1", "an integer >= 1"),
    ],
)
def test_a_bad_numeric_option_is_a_usage_error_naming_it(option, value, allowed, capsys):
    # A real photo and a gateway that answers nothing (port 9): without the check the CLI would get as far as
    # a request and end in a traceback or exit 3, not 2.
    with pytest.raises(SystemExit) as exit_:
        main(["--gateway", "http://127.0.0.1:9", str(shared_image("dog1.jpg")), option, value])
    assert exit_.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "usage: segment" in err
    assert f"argument {option}: must be {allowed}, got {value}" in err


def test_a_bad_numeric_option_exits_2_from_the_entry_point_without_a_traceback():
    run = segment(str(shared_image("dog1.jpg")), "--gateway", "http://127.0.0.1:9", "--retries", "-5", timeout=60)
    assert run.returncode == EXIT_USAGE
    assert "argument --retries: must be an integer >= 0, got -5" in run.stderr and "Traceback" not in run.stderr
