"""The try-it page in a real headless Chromium: upload a photo, see the overlay and a legend that
lists exactly the classes the API's summary reports. Leaves a screenshot in artifacts/web/."""
from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.support.paths import REPO_ROOT, shared_image

pytestmark = pytest.mark.timeout(600)

SCREENSHOT = REPO_ROOT / "artifacts" / "web" / "screenshot.png"
BACKEND = "onnx"
WAIT_S = 180  # three inferences on two shared CPU cores
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,1400",
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
    browser.find_element(By.ID, "file").send_keys(str(photo))
    browser.find_element(By.ID, "submit").click()
    try:
        try:
            wait.until(lambda driver: driver.find_element(By.ID, "result").get_attribute("data-state") == "done"
                       or "error" in driver.find_element(By.ID, "status").get_attribute("class"))
        except TimeoutException:
            pytest.fail(f"no result after {WAIT_S} s; {page_state(browser)}")
        assert "error" not in browser.find_element(By.ID, "status").get_attribute("class"), page_state(browser)
        overlay = browser.find_element(By.ID, "overlay")
        wait.until(expected_conditions.visibility_of(overlay))
        natural = browser.execute_script("const i = arguments[0]; return [i.naturalWidth, i.naturalHeight];", overlay)
        assert natural == [976, 549]  # the overlay is the photo's size

        legend = [(item.find_element(By.CLASS_NAME, "name").text, float(item.get_attribute("data-fraction")))
                  for item in browser.find_elements(By.CSS_SELECTOR, "#legend li")]
        with photo.open("rb") as handle:
            summary = httpx.post(f"{stack.gateway_url}/infer/file", timeout=300, trust_env=False,
                                 data={"infer_model_type": BACKEND, "response_format": "summary", "mask_size": "original"},
                                 files={"file": (photo.name, handle, "image/jpeg")}).json()
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
