"""The page in a real browser: `solara run viz/app.py` on a free loopback port, driven by
Debian's Chromium through pytest-playwright. Screenshots go to test-artifacts/ (git-ignored).

Needs /usr/bin/chromium (`apt-get install -y chromium`) and Solara's asset cache
(`uv run python tools/solara_assets.py`); without either the tests are skipped, saying which.
`.ci/run` provides both.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from tools.solara_assets import cache_dir, missing

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium in a container: no sandbox or GPU, and nothing that phones home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = REPO / "test-artifacts"
START_TIMEOUT_S = 90

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),  # one browser test at a time under -n: they time a page
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"no {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)"),
    pytest.mark.skipif(bool(missing()), reason=f"Solara's asset cache {cache_dir()} is not filled: "
                                               "run `uv run python tools/solara_assets.py`"),
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # pytest-playwright's own fixture, pointed at Debian's Chromium: `playwright install`
    # cannot download browsers here and `--browser-channel` cannot name this one.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1500, "height": 1500}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"solara exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"solara did not answer on {url} within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def results_root(tmp_path_factory):
    """A small result folder built from real runs: two carbon taxes, two seeds each."""
    from experiments import runner
    from experiments.config import resolve
    from experiments.outputs import write_run

    root = tmp_path_factory.mktemp("browser-results")
    for tax in (0.0, 20.0):
        for seed in (1, 2):
            cfg, park = resolve("kalundborg", 8, seed, {"policy.carbon_tax": tax})
            write_run(runner.simulate(cfg, park), root / "taxes" / f"tax{tax:g}-seed{seed}")
    return root


@pytest.fixture(scope="module")
def server(results_root, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("solara") / "solara.log"
    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="false", SOLARA_THEME_SHOW_BANNER="false",
               ECOPARK_RESULTS=str(results_root))
    solara = str(Path(sys.executable).with_name("solara"))
    with open(log, "w") as out:
        proc = subprocess.Popen([solara, "run", str(REPO / "viz" / "app.py"), "--host", "127.0.0.1",
                                 "--port", str(port), "--production"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url + "/", proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def timings():
    out: dict[str, float] = {}
    yield out
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-timings.json").write_text(json.dumps(out, indent=2) + "\n")


def test_live_page_steps_plays_a_policy_change_and_a_failure(page, server, timings):
    from playwright.sync_api import expect

    start = time.perf_counter()
    page.goto(server + "/")
    page.wait_for_selector(".btn-step", timeout=60_000)
    day = page.locator(".kpi-day .kpi-value")
    expect(day).to_have_text("0")
    timings["live_page_interactive_s"] = round(time.perf_counter() - start, 2)
    expect(page.locator("img.park-map")).to_be_visible()

    gains = page.locator(".kpi-gains .kpi-value")
    start = time.perf_counter()
    page.click(".btn-step")
    expect(day).to_have_text("1")
    timings["step_round_trip_s"] = round(time.perf_counter() - start, 3)
    expect(page.locator(".coop-charts")).to_be_visible()  # the cooperation panels, under the KPI panels
    first = gains.inner_text()
    assert first != "EUR 0"

    # A policy lever: the carbon tax slider in the settings drawer, moved with the keyboard as a
    # user can.
    page.click(".btn-settings")
    thumb = page.locator(".slider-carbon-tax [role=slider]")
    thumb.focus()
    for tax in (5, 10, 15, 20):  # a key at a time, as the label confirms each (the drawer re-renders)
        thumb.press("ArrowRight")
        expect(page.locator(".slider-carbon-tax .slider-label")).to_contain_text(f"Carbon tax: {tax} EUR")
    expect(page.locator(".run-command")).to_contain_text("policy.carbon_tax=20")
    expect(day).to_have_text("0")  # a new config restarts the run
    page.click(".btn-step")
    expect(day).to_have_text("1")
    expect(gains).not_to_have_text(first)  # a carbon tax raises what each exchange is worth

    # A cooperation lever: gain sharing by the park operator restarts the run too.
    page.locator(".choice-gain-sharing .v-select").click()
    page.locator(".v-menu__content .v-list-item", has_text="shapley").click()
    expect(page.locator(".run-command")).to_contain_text("policy.gain_sharing=shapley")
    expect(day).to_have_text("0")
    # 30 days a step: the first contracts are signed at the end of day 30, in force from day 31;
    # the map's tooltip layer then carries their terms, laid exactly over the map image.
    page.locator(".days-per-step .v-btn-toggle button", has_text="30").click()
    page.click(".btn-step")
    expect(day).to_have_text("30")
    page.click(".btn-step")
    expect(day).to_have_text("60")
    expect(page.locator(".kpi-coop .kpi-value")).not_to_have_text("0 \u00b7 0")
    contract = page.locator("svg.map-hover path.hover-contract").first
    expect(contract.locator("title")).to_contain_text("penalty: EUR")
    assert page.locator("svg.map-hover").bounding_box() == page.locator("img.park-map").bounding_box()
    expect(page.locator(".company-panel table.contracts")).to_be_visible()
    # Zoom the charts to the last 30 days: the first day they read out is day 31.
    page.locator(".chart-zoom button", has_text="30").click()
    expect(page.locator(".panel-gains_from_trade_eur .ts-col").first).to_have_attribute("data-day", "31")
    page.locator(".chart-zoom button", has_text="all").click()
    expect(page.locator(".panel-gains_from_trade_eur .ts-col").first).to_have_attribute("data-day", "1")
    page.locator(".days-per-step .v-btn-toggle button", has_text="1").first.click()

    # Play, then pause: the steps stop (a click while frames arrive must still get through).
    page.click(".btn-play")
    page.wait_for_function("Number(document.querySelector('.kpi-day .kpi-value').textContent) >= 3",
                           timeout=30_000)
    page.click(".btn-play")
    expect(page.locator(".btn-play")).to_contain_text("Play")
    page.wait_for_timeout(800)
    paused_at = day.inner_text()
    page.wait_for_timeout(1200)
    expect(day).to_have_text(paused_at)

    # Break the selected company (Asnaes, the hub) and watch the cascade.
    page.click(".btn-break")
    page.click(".btn-step")
    expect(day).to_have_text(str(int(paused_at) + 1))
    expect(page.locator(".company-panel")).to_contain_text("is down")
    page.wait_for_timeout(500)  # let the new images paint before the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-page.png"), full_page=True)


def _open_live(page, server, width: int, height: int):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": height})
    page.goto(server + "/")
    page.wait_for_selector(".btn-step", timeout=60_000)
    expect(page.locator(".kpi-day .kpi-value")).to_have_text("0")


def _inside(box: dict, width: int, height: int) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height


def test_run_controls_are_on_the_first_screen_of_a_laptop(page, server):
    from playwright.sync_api import expect

    _open_live(page, server, 1366, 768)
    for button in (".btn-play", ".btn-step", ".btn-reset", ".btn-settings"):
        assert _inside(page.locator(button).bounding_box(), 1366, 768), button
    expect(page.locator(".day0-hint")).to_contain_text("press Play")
    expect(page.locator(".slider-carbon-tax")).to_have_count(0)  # the drawer starts closed
    expect(page.get_by_text("runs on Solara")).to_have_count(0)  # no banner over the page
    page.click(".btn-step")
    expect(page.locator(".kpi-day .kpi-value")).to_have_text("1")
    expect(page.locator(".day0-hint")).to_have_text("")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-page-1366x768.png"))


def test_an_800_px_window_does_not_scroll_sideways_and_keeps_the_map_large(page, server):
    _open_live(page, server, 800, 900)
    page.click(".btn-step")
    page.wait_for_function("document.querySelector('.kpi-day .kpi-value')?.textContent === '1'")
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    assert page.locator("img.park-map").bounding_box()["width"] >= 450
    # The company panel stacks under the map rather than beside it.
    assert page.locator(".company-column").bounding_box()["y"] > page.locator("img.park-map").bounding_box()["y"]
    page.click(".btn-settings")  # the drawer opens above the run, also without scrolling sideways
    page.wait_for_selector(".slider-carbon-tax")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-page-800.png"))


def test_break_now_counts_lost_output_and_charts_read_out_on_hover(page, server):
    from playwright.sync_api import expect

    _open_live(page, server, 1500, 1200)
    day = page.locator(".kpi-day .kpi-value")
    page.click(".btn-step")
    expect(day).to_have_text("1")
    page.click(".btn-break")
    for i in (2, 3, 4):
        page.click(".btn-step")
        expect(day).to_have_text(str(i))
    lost = page.locator(".kpi-lost .kpi-value").inner_text()
    assert lost.startswith("EUR") and lost != "EUR 0"
    # Hover a day of the gains panel: its read-out shows that day's values.
    strip = page.locator(".panel-gains_from_trade_eur .ts-col").nth(2)
    tip = strip.locator(".ts-tip")
    expect(tip).to_be_hidden()
    strip.locator("rect").first.hover()  # the strip itself: the hidden read-out widens its group
    expect(tip).to_be_visible()
    text = tip.text_content()
    assert "day 3" in text and "gains:" in text and "kEUR" in text
    expect(page.locator(".panel-welfare")).to_contain_text("social surplus")
    # A click on a legend entry hides its line (and its read-out); another shows it again.
    # (A read-out is built when the pointer first enters its strip, so each check hovers first.)
    welfare = page.locator(".panel-welfare .ts-col").first
    welfare.locator("rect").first.hover()
    expect(welfare.locator(".ts-tip")).to_contain_text("transfers")
    page.locator('.panel-welfare text.ts-legend[data-line="panel-welfare|transfers"]').click()
    welfare.locator("rect").first.hover()
    expect(welfare.locator(".ts-tip")).to_be_visible()
    expect(welfare.locator(".ts-tip")).not_to_contain_text("transfers")
    page.locator('.panel-welfare text.ts-legend[data-line="panel-welfare|transfers"]').click()
    welfare.locator("rect").first.hover()
    expect(welfare.locator(".ts-tip")).to_contain_text("transfers")
    # Click a company on the map: the company panel turns to it.
    circle = page.locator('svg.map-hover circle[data-company="4"]')
    name = circle.locator("title").text_content().split(" (")[0]
    circle.click()
    expect(page.locator(".company-panel .v-select__selection")).to_have_text(name)


def test_a_bad_size_is_reported_beside_its_field(page, server):
    from playwright.sync_api import expect

    _open_live(page, server, 1366, 900)
    page.click(".btn-settings")
    page.locator(".choice-scenario .v-select").click()
    page.locator(".v-menu__content .v-list-item", has_text="synthetic").click()
    field = page.locator(".field-size")
    expect(field).to_contain_text("about", timeout=30_000)  # the estimated time a day, under the field
    field.locator("input").fill("abc")
    field.locator("input").press("Enter")
    expect(field.locator(".v-messages__message")).to_contain_text("whole number")
    field.locator("input").fill("5000")
    field.locator("input").press("Enter")
    expect(field.locator(".v-messages__message")).to_contain_text("at most 500")
    page.click(".btn-step")  # the park of 50 runs on, untouched
    expect(page.locator(".kpi-day .kpi-value")).to_have_text("1")
    # 50 companies: the map opens by sector; a click on a sector drills down to its companies.
    page.click(".btn-settings")  # close the drawer, so the map has the width
    expect(page.locator(".ecopark-live > .controls")).to_have_count(0)
    page.wait_for_timeout(500)  # the map's new width, and its image, settle
    sector = page.locator("svg.map-hover circle.hover-sector").first
    name = sector.get_attribute("data-sector")
    sector.click()
    expect(page.locator(".map-focus")).to_contain_text(f"sector {name}")
    expect(page.locator("svg.map-hover circle.hover-company").first).to_be_attached()
    page.click(".btn-whole-park")
    expect(page.locator(".map-focus")).to_have_text("click a company to select it")


def test_comparison_page_shows_a_result_folder(page, server, timings):
    from playwright.sync_api import expect

    start = time.perf_counter()
    page.goto(server + "/compare")
    head = page.locator(".result-head")
    expect(head).to_contain_text("taxes", timeout=60_000)
    expect(head).to_contain_text("Carbon tax (EUR/t CO2): 2 values")  # a label with its unit, not a path
    expect(page.locator("img.schemes-figure")).to_be_visible()
    expect(page.locator("img.against-figure")).to_be_visible()
    timings["compare_page_ready_s"] = round(time.perf_counter() - start, 2)
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare-page.png"), full_page=True)
