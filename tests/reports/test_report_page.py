"""The report's index.html in headless Chromium (Debian's): it opens offline from the file,
every figure is embedded and decodes, and the page has its sections."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reports.build import build
from stack.chromium import chromium
from tests.browser.test_download_manager import ARTIFACTS

pytestmark = pytest.mark.browser


def test_the_report_page_renders_with_every_figure(sim_bench: Path) -> None:
    page_file = build(sim_bench) / "index.html"
    html = page_file.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing to fetch: opens offline
    with chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(page_file.as_uri())
        images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.alt, i.complete, i.naturalWidth])")
        headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
        # The first screen answers: every audience's sentence and the score picture, unscrolled.
        fold = page.evaluate(
            """() => ({
                sentences: [...document.querySelectorAll('#answer p strong')].map(s => s.textContent),
                picture: document.querySelector('#scores img').getBoundingClientRect().bottom,
            })"""
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-first-screen.png"))
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert errors == []
    assert len(images) >= 8
    broken = [alt for alt, complete, width in images if not complete or width == 0]
    assert broken == []
    for section in ("The answer", "Contents", "Decision matrix: browser app", "The design's hypotheses H1-H17"):
        assert section in headings
    assert {"browser app", "mobile app", "server-to-server"} <= set(fold["sentences"])
    assert fold["picture"] <= 800, f"the score picture ends at {fold['picture']} px, below the first screen"
