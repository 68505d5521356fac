"""Measure the live page against the bars of its product issue, in Debian's Chromium:

- at 1366 x 768, are Play and Step inside the first screen (their bottom edge, px);
- at 800 px wide, how far the page scrolls sideways and how wide the map is;
- after Break now and a few steps, the Lost output card;
- hovering a KPI chart: does a value appear;
- a bad size for the synthetic park: is an error shown next to its field.

    uv run python tools/page_bars.py            # needs /usr/bin/chromium and the asset cache

Each figure is printed as measured; nothing is asserted (tests/test_browser.py does that).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tools.page_timing import CHROMIUM, CHROMIUM_ARGS, _serve  # noqa: E402

DAY = ".kpi-day .kpi-value"


def _open(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector(DAY, timeout=60_000)
    page.wait_for_function(f"document.querySelector('{DAY}').textContent === '0'", timeout=60_000)
    page.wait_for_timeout(500)
    return page


def _box(page, selector: str) -> dict | None:
    loc = page.locator(selector)
    return loc.first.bounding_box() if loc.count() else None


def first_screen(browser, url: str) -> None:
    page = _open(browser, url, 1366, 768)
    for name in (".btn-play", ".btn-step"):
        b = _box(page, name)
        inside = b is not None and b["y"] >= 0 and b["y"] + b["height"] <= 768 and b["x"] + b["width"] <= 1366
        print(f"1366x768: {name} " + ("absent" if b is None else
                                      f"at y={b['y']:.0f}-{b['y'] + b['height']:.0f} px: "
                                      f"{'inside' if inside else 'outside'} the first screen"))
    page.close()


def narrow(browser, url: str) -> None:
    page = _open(browser, url, 800, 900)
    sideways = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    b = _box(page, "img.park-map")
    print(f"800 px: scrolls sideways by {sideways} px; map {b['width']:.0f} px wide" if b else
          f"800 px: scrolls sideways by {sideways} px; no map")
    page.close()


def lost_output(browser, url: str) -> None:
    page = _open(browser, url, 1500, 1500)
    page.click(".btn-step")
    page.wait_for_function(f"document.querySelector('{DAY}')?.textContent === '1'")
    page.click(".btn-break")
    for i in range(2, 5):
        page.click(".btn-step")
        page.wait_for_function(f"document.querySelector('{DAY}')?.textContent === '{i}'", timeout=30_000)
    print(f"after Break now and 3 steps: Lost output card {page.locator('.kpi-lost .kpi-value').inner_text()}")
    page.close()


def hover(browser, url: str) -> None:
    page = _open(browser, url, 1500, 1500)
    page.click(".btn-step")
    page.wait_for_function(f"document.querySelector('{DAY}')?.textContent === '1'")
    page.wait_for_timeout(800)
    # The first KPI panel, in the middle of its plotting area: read-outs the pointer reveals, of
    # whatever kind (the inline SVG's `.ts-tip`, or a chart library's tooltip).
    panel = next(page.locator(sel).first for sel in (".park-charts .ts-panel", ".park-charts")
                 if page.locator(sel).count())
    panel.scroll_into_view_if_needed()
    b = panel.bounding_box()
    page.mouse.move(b["x"] + b["width"] * 0.5, b["y"] + b["height"] * 0.6)
    page.wait_for_timeout(600)
    shown = [t.text_content() for t in page.locator(".ts-tip, .hovertext, .vg-tooltip").all() if t.is_visible()]
    print(f"hover on a chart: {'shows ' + repr(shown[0]) if shown else 'nothing shows'}")
    page.close()


def bad_size(browser, url: str) -> None:
    page = _open(browser, url, 1500, 1500)
    opener = page.locator(".btn-settings")
    if opener.count():
        opener.click()
    page.locator(".choice-scenario .v-select, .v-select:has(label:text('Scenario'))").first.click()
    page.locator(".v-menu__content .v-list-item", has_text="synthetic").click()
    page.wait_for_timeout(3000)
    field = page.locator(".field-size input, .v-text-field:has(label:text('Companies')) input").first
    field.fill("abc")
    field.press("Enter")
    page.wait_for_timeout(1000)
    near = page.locator(".field-size .v-messages__message, .field-size .field-error, "
                        ".v-text-field:has(label:text('Companies')) .v-messages__message")
    shown = f"error next to the field: {near.first.inner_text()}" if near.count() else "no error next to the field"
    print(f"size 'abc': {shown}")
    page.close()


def main() -> int:
    from playwright.sync_api import sync_playwright

    proc, url = _serve()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for measure in (first_screen, narrow, lost_output, hover, bad_size):
                try:
                    measure(browser, url)
                except Exception as e:  # one bar failing to measure should not hide the others
                    print(f"{measure.__name__}: could not measure ({type(e).__name__}: {str(e).splitlines()[0]})")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
