"""The try-it page in a real headless Chromium: upload a photo, see the overlay and a legend that
lists exactly the classes the API's summary reports. Leaves a screenshot in artifacts/web/."""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from gateway.results.overlay import blend
from gateway.results.palette import colour_of
from gateway.results.resize import resize_map
from tests.support.gateway_metrics import inference_calls
from tests.support.paths import REPO_ROOT, shared_image

pytestmark = pytest.mark.timeout(600)

SCREENSHOT = REPO_ROOT / "artifacts" / "web" / "screenshot.png"
BACKEND = "onnx"
WAIT_S = 180  # three inferences on two shared CPU cores
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,1400",
)


def _binary(*names: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    pytest.fail(f"none of {names} is installed: run `make system-deps` (Debian packages chromium chromium-driver)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=_binary("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def backend_choices(driver: webdriver.Chrome) -> list[str]:
    return [option.get_attribute("value") for option in Select(driver.find_element(By.ID, "backend")).options]


def page_state(driver: webdriver.Chrome) -> str:
    """What a failing assertion should show: the status line and the page's console."""
    status = driver.find_element(By.ID, "status").text
    console = [f"{entry['level']} {entry['message']}" for entry in driver.get_log("browser")]
    return f"status: {status!r}; console: {console}"


def test_upload_shows_overlay_and_the_summarys_classes(stack, browser):
    photo = shared_image("dog1.jpg")
    browser.get(stack.gateway_url + "/")
    assert browser.title == "Segment an image"
    wait = WebDriverWait(browser, WAIT_S)
    # Models and backends are filled in from GET /models: wait, or the options change under our click.
    wait.until(lambda driver: driver.find_element(By.ID, "segment-form").get_attribute("data-models") == "loaded")
    assert BACKEND in backend_choices(browser)
    Select(browser.find_element(By.ID, "backend")).select_by_value(BACKEND)
    # The legend is compared with the summary at the photo's own size (the page's default is the model's).
    browser.execute_script("document.getElementById('mask-original').checked = true;")
    browser.find_element(By.ID, "file").send_keys(str(photo))
    browser.find_element(By.ID, "submit").click()
    try:
        try:
            wait.until(
                lambda driver: (
                    driver.find_element(By.ID, "result").get_attribute("data-state") == "done"
                    or "error" in driver.find_element(By.ID, "status").get_attribute("class")
                )
            )
        except TimeoutException:
            pytest.fail(f"no result after {WAIT_S} s; {page_state(browser)}")
        assert "error" not in browser.find_element(By.ID, "status").get_attribute("class"), page_state(browser)
        overlay = browser.find_element(By.ID, "overlay")
        wait.until(expected_conditions.visibility_of(overlay))
        natural = browser.execute_script("const i = arguments[0]; return [i.naturalWidth, i.naturalHeight];", overlay)
        assert natural == [976, 549]  # the overlay is the photo's size

        legend = [
            (item.find_element(By.CLASS_NAME, "name").text, float(item.get_attribute("data-fraction")))
            for item in browser.find_elements(By.CSS_SELECTOR, "#legend li")
        ]
        with photo.open("rb") as handle:
            summary = httpx.post(
                f"{stack.gateway_url}/infer/file",
                timeout=300,
                trust_env=False,
                data={"infer_model_type": BACKEND, "response_format": "summary", "mask_size": "original"},
                files={"file": (photo.name, handle, "image/jpeg")},
            ).json()
        expected = [(entry["name"], entry["pixel_fraction"]) for entry in summary["classes"]]
        assert [name for name, _ in legend] == [name for name, _ in expected], (legend, expected)
        assert [fraction for _, fraction in legend] == pytest.approx([fraction for _, fraction in expected])
        assert browser.find_element(By.ID, "download-mask").get_attribute("href").startswith("blob:")
        # Uncaught exceptions of the page's script (network failures already show in the status line).
        script_errors = [entry["message"] for entry in browser.get_log("browser") if entry["source"] == "javascript"]
        assert not script_errors, f"the page's script failed: {script_errors}"
    finally:
        # The artefact is most useful when the test fails.
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000


def _wait_for(browser: webdriver.Chrome, condition, what: str) -> None:
    try:
        WebDriverWait(browser, WAIT_S).until(condition)
    except TimeoutException:
        pytest.fail(f"{what}: not after {WAIT_S} s; {page_state(browser)}")


def _blob_bytes(browser: webdriver.Chrome, url: str) -> bytes:
    """The bytes behind a blob: URL of the page."""
    encoded = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then((r) => r.arrayBuffer()).then((buffer) => {"
        "  let text = ''; for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);"
        "  done(btoa(text)); });",
        url,
    )
    return base64.b64decode(encoded)


def test_one_inference_per_click_opacity_downloads_input_size_and_a_failure_clears(stack, browser):
    photo = shared_image("dog1.jpg")
    browser.get(stack.gateway_url + "/")
    _wait_for(
        browser,
        lambda d: d.find_element(By.ID, "segment-form").get_attribute("data-models") == "loaded",
        "models loaded",
    )
    # The model's real input size: 513×513 for the VOC model, 512×512 for the default one.
    Select(browser.find_element(By.ID, "model")).select_by_value("voc_mnv2")
    assert "513×513" in browser.find_element(By.ID, "input-size").text
    Select(browser.find_element(By.ID, "model")).select_by_value("deeplabv3")
    assert "512×512" in browser.find_element(By.ID, "input-size").text

    labels = tuple(
        httpx.get(f"{stack.gateway_url}/models", timeout=60, trust_env=False).json()["models"]["deeplabv3"]["labels"]
    )
    before = inference_calls(stack.gateway_url)
    browser.find_element(By.ID, "file").send_keys(str(photo))
    browser.find_element(By.ID, "submit").click()
    _wait_for(
        browser, lambda d: d.find_element(By.ID, "result").get_attribute("data-state") in ("done", "error"), "a result"
    )
    assert browser.find_element(By.ID, "result").get_attribute("data-state") == "done", page_state(browser)
    after = inference_calls(stack.gateway_url)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)  # overlay, legend and mask from one inference
    assert browser.find_element(By.ID, "weights-note").is_displayed()  # the answer's X-Weights-Random: true

    # Downloads named after the photo: the mask is the service's PNG, the overlay the photo with it blended in.
    mask_link, overlay_link = (browser.find_element(By.ID, name) for name in ("download-mask", "download-overlay"))
    assert (mask_link.get_attribute("download"), overlay_link.get_attribute("download")) == (
        "dog1-mask.png",
        "dog1-overlay.png",
    )
    mask = np.asarray(Image.open(io.BytesIO(_blob_bytes(browser, mask_link.get_attribute("href")))))
    assert mask.shape == (512, 512)  # the default mask size: the model's
    overlay = Image.open(io.BytesIO(_blob_bytes(browser, overlay_link.get_attribute("href"))))
    picture = Image.open(photo).convert("RGB")
    assert overlay.size == picture.size
    expected = blend(picture, resize_map(mask, picture.size), labels, opacity=0.5)
    difference = np.abs(np.asarray(overlay.convert("RGB"), dtype=np.int16) - np.asarray(expected, dtype=np.int16))
    assert difference.mean() < 3, difference.mean()  # the service's blend, up to JPEG decoders and edge pixels

    # The opacity control changes the layer on screen and the overlay to download.
    browser.execute_script(
        "const s = document.getElementById('opacity'); s.value = 100;"
        "s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));"
    )
    assert browser.find_element(By.ID, "mask-layer").value_of_css_property("opacity") == "1"
    _wait_for(
        browser,
        lambda d: d.find_element(By.ID, "download-overlay").get_attribute("data-opacity") == "1",
        "the overlay redone at opacity 1",
    )
    opaque = Image.open(io.BytesIO(_blob_bytes(browser, overlay_link.get_attribute("href")))).convert("RGB")
    big_map = resize_map(mask, picture.size)
    ids, counts = np.unique(big_map[big_map != 0], return_counts=True)
    assert ids.size, "the mask has no class but the background: nothing to see in the overlay"
    largest = int(ids[counts.argmax()])
    painted = (np.asarray(opaque)[big_map == largest] == colour_of(largest)).all(axis=1).mean()
    assert painted > 0.95, painted  # at full opacity the class's pixels are its colour

    # A request that fails clears the previous result instead of leaving it under the error.
    browser.find_element(By.ID, "url").send_keys("http://127.0.0.1:1/nothing.jpg")
    browser.find_element(By.ID, "submit").click()
    _wait_for(browser, lambda d: d.find_element(By.ID, "result").get_attribute("data-state") == "error", "the error")
    assert "error" in browser.find_element(By.ID, "status").get_attribute("class")
    assert not browser.find_element(By.ID, "result").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#legend li") == []
    assert browser.find_element(By.ID, "overlay").get_attribute("src") in (None, "")
    script_errors = [entry["message"] for entry in browser.get_log("browser") if entry["source"] == "javascript"]
    assert not script_errors, f"the page's script failed: {script_errors}"
