"""The web pages in a real browser: Debian's headless chromium driven by Selenium, against
the live server and against the static export served by `python -m http.server`.

chromium and chromedriver come from Debian's packages (.ci/run installs them); the driver's
path is given explicitly, so Selenium Manager never looks for one on the network.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Site, http_server, serving, sha256
from zoo.site import export_site

WAIT = 20.0


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """Headless chromium that saves downloads into a folder of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail(
            "the browser test needs Debian's chromium and chromedriver "
            "(apt-get install chromium chromium-driver; .ci/run does it)"
        )
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver, downloads
    finally:
        driver.quit()


@contextmanager
def served(kind: str, site: Site, tmp_path: Path) -> Iterator[str]:
    if kind == "server":
        with serving(site.app) as url:
            yield url
    else:
        export_site(tmp_path / "static", registry=site.app.state.registry)
        with http_server(tmp_path / "static") as url:
            yield url


def _until(condition: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("kind", ["server", "static"])
def test_browse_filter_open_and_download(
    kind: str,
    site: Site,
    packages: dict[str, Path],
    browser: tuple[Any, Path],
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    registry = site.app.state.registry
    registry.publish(packages["nuclei"], model_id="nuclei")
    registry.publish(packages["nuclei"], model_id="nuclei", version="0.2.0")
    registry.yank("nuclei@0.2.0", "wrong normalisation")
    registry.publish(packages["mt"], model_id="mt")
    driver, downloads = browser

    def visible_models() -> list[str]:
        rows = driver.find_elements(By.CSS_SELECTOR, "tr.model")
        return [r.get_attribute("data-id") for r in rows if r.is_displayed()]

    with served(kind, site, tmp_path) as url:
        driver.get(f"{url}/")
        assert visible_models() == ["mt", "nuclei"]
        Select(driver.find_element(By.ID, "f-modality")).select_by_value("widefield")
        driver.find_element(By.ID, "f-submit").click()
        _until(lambda: "modality=widefield" in driver.current_url, "the filtered list")
        _until(lambda: visible_models() == ["nuclei"], "only the widefield model")
        assert driver.find_element(By.ID, "count").text == "1 model(s)"

        driver.find_element(By.LINK_TEXT, "nuclei").click()
        _until(lambda: driver.find_elements(By.ID, "model-id"), "the model page")
        assert driver.current_url == f"{url}/model/nuclei/"
        assert driver.find_element(By.ID, "model-id").text.startswith("nuclei 0.1.0")
        assert driver.find_element(By.ID, "modality").text == "widefield"
        assert driver.find_element(By.ID, "noise").text == "poisson-gaussian"
        assert driver.find_element(By.ID, "license").text == "BSD-3-Clause"
        assert driver.find_element(By.ID, "sha256").text == sha256(packages["nuclei"])
        snippet = driver.find_element(By.ID, "run-snippet").text
        assert snippet == "zoo run nuclei@0.1.0 image.tif -o out.tif"
        assert driver.find_element(By.ID, "registry-url").text == url
        assert "Nikon" in driver.find_element(By.ID, "card-domain").text
        assert len(driver.find_elements(By.CSS_SELECTOR, "#fingerprint svg")) == 3
        yanked = driver.find_element(By.CSS_SELECTOR, 'tr[data-version="0.2.0"]')
        assert "yanked" in yanked.text and "wrong normalisation" in yanked.text
        cover = driver.find_element(By.ID, "cover")
        _until(lambda: driver.execute_script("return arguments[0].naturalWidth", cover), "cover")

        link = driver.find_element(By.CSS_SELECTOR, 'tr[data-version="0.1.0"] a.download')
        link.click()
        target = downloads / "nuclei-0.1.0.zip"
        _until(lambda: target.is_file() and not list(downloads.glob("*.crdownload")), "download")
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        assert digest == registry.resolve("nuclei@0.1.0")[2].sha256 == sha256(packages["nuclei"])


def test_an_adapted_model_shows_its_lineage(
    site: Site, browser: tuple[Any, Path], tmp_path: Path
) -> None:
    """The page of a model made by zoo adapt names its parent (a link to the parent's page),
    the adaptation and the images by sha256, never by path."""
    pytest.importorskip("torch")
    from selenium.webdriver.common.by import By

    from tests.test_adapt import make_adapted, make_parent
    from tests.test_intensity_invariance import scene
    from zoo.package import load_package

    parent = make_parent(tmp_path)
    adapted = make_adapted(parent, scene(11, (192, 160))[0], tmp_path)
    registry = site.app.state.registry
    registry.publish(parent)
    registry.publish(adapted)
    name = load_package(adapted).name
    driver, _downloads = browser
    with served("server", site, tmp_path) as url:
        driver.get(f"{url}/model/{name}/")
        lineage = _until(lambda: driver.find_elements(By.ID, "lineage"), "the lineage")[0]
        assert "n2v2" in lineage.text and "192×160" in lineage.text
        link = driver.find_element(By.ID, "lineage-parent")
        assert link.text == "tiny-parent@1.2.0"
        link.click()
        _until(lambda: driver.current_url == f"{url}/model/tiny-parent/", "the parent's page")
        assert driver.find_element(By.ID, "model-id").text.startswith("tiny-parent 1.2.0")
        assert not driver.find_elements(By.ID, "lineage")
