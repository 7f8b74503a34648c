"""The mesh page, rendered by headless Chromium against the API served by uvicorn: the SVG graph must be in the DOM
and the screenshot must show product boxes in their health colours."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.catalog.mesh import Tokens
from tests.requirements import may_install_system_packages, missing

HEALTH_COLOURS = {"healthy": (0x2E, 0x9D, 0x5B), "degraded": (0xE0, 0xA5, 0x26), "failing": (0xD6, 0x45, 0x45)}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if not may_install_system_packages():
        missing("Chromium is not installed and system packages may not be installed here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            missing(f"apt-get install chromium failed: {result.stderr[-500:]}")
    found = shutil.which("chromium")
    assert found, "chromium installed but not on PATH"
    return found


@pytest.fixture(scope="module")
def chromium() -> str:
    return _chromium()


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1200,800",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


def colour_pixels(png: Path) -> dict[str, int]:
    from PIL import Image

    with Image.open(png) as image:
        raw = image.convert("RGB").tobytes()
    pixels = [tuple(raw[i : i + 3]) for i in range(0, len(raw), 3)]
    found = dict.fromkeys(HEALTH_COLOURS, 0)
    for pixel in pixels:
        for health, target in HEALTH_COLOURS.items():
            if all(abs(a - b) <= 6 for a, b in zip(pixel, target, strict=True)):
                found[health] += 1
    found["distinct"] = len(set(pixels))
    return found


def test_the_mesh_page_renders_the_graph(
    chromium: str, served: tuple[str, Tokens, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    base, tokens, _ = served
    page = f"{base}/mesh?token={tokens.marketing}"

    dom = run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert '<svg id="mesh"' in html
    assert html.count('class="node product"') == 3, html[-3000:]  # campaigns, customers, leads
    assert 'data-id="product:marketing/campaigns"' in html and 'href="/api/v1/products/marketing/campaigns"' in html
    assert html.count('class="edge"') == 4  # campaigns reads 2 inputs, customers and leads 1 each
    assert 'data-domain="marketing"' in html
    assert "3 products" in html and 'class="error"' not in html

    screenshot = tmp_path / "mesh.png"
    shot = run_chromium(chromium, tmp_path / "profile-shot", f"--screenshot={screenshot}", page)
    assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    keep = os.environ.get("DATAMESH_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(screenshot, keep)
    pixels = colour_pixels(screenshot)
    assert pixels["distinct"] > 50, "the screenshot is blank"
    # campaigns is stale (degraded), customers healthy, leads not Ready (failing): each box is ~200x46 pixels.
    assert pixels["healthy"] > 3000 and pixels["degraded"] > 3000 and pixels["failing"] > 3000, pixels
