"""Time the browser page: one Kalundborg step drawn on the server, and in Chromium the page's
interactive time after load and a Step click's round trip (click to new day shown).

    uv run python tools/page_timing.py             # needs /usr/bin/chromium and the asset cache

Prints medians and best of several tries; the machine's load average is printed beside them,
as other work on a small machine moves these figures a lot.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def server_side(steps: int = 30) -> list[float]:
    """Seconds for one step of the run and its baseline plus everything the page draws: the
    map with its hover layer and the KPI, welfare and cooperation panels."""
    from viz.session import LiveSession

    session = LiveSession()
    session.step(30)
    session.map_layers(0), session.charts_html()
    out = []
    for _ in range(steps):
        t = time.perf_counter()
        session.step()
        session.map_layers(0)
        session.charts_html()
        out.append(time.perf_counter() - t)
    return out


def _serve() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="false", SOLARA_THEME_SHOW_BANNER="false")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("solara")), "run", str(REPO / "viz" / "app.py"),
                             "--host", "127.0.0.1", "--port", str(port), "--production"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the page did not start within 90 s")


def browser_side(loads: int = 5, clicks: int = 10) -> tuple[list[float], list[float]]:
    from playwright.sync_api import expect, sync_playwright

    proc, url = _serve()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            interactive, trips = [], []
            for _ in range(loads):
                page = browser.new_page(viewport={"width": 1500, "height": 1500})
                t = time.perf_counter()
                page.goto(url)
                page.wait_for_function("document.querySelector('img.park-map') && "
                                       "document.querySelector('img.park-map').complete && "
                                       "document.querySelector('.btn-step')", polling="raf", timeout=60_000)
                interactive.append(time.perf_counter() - t)
                page.close()
            page = browser.new_page(viewport={"width": 1500, "height": 1500})
            page.goto(url)
            day = page.locator(".kpi-day .kpi-value")
            expect(day).to_have_text("0", timeout=60_000)
            for i in range(1, clicks + 1):
                t = time.perf_counter()
                page.click(".btn-step")
                # Polled every animation frame: `expect` polls at 100-1000 ms and would round up.
                page.wait_for_function(f"document.querySelector('.kpi-day .kpi-value').textContent === '{i}'",
                                       polling="raf")
                trips.append(time.perf_counter() - t)
            browser.close()
        return interactive, trips
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    load = os.getloadavg()[0]
    draws = server_side()
    print(f"load average {load:.2f} on {os.cpu_count()} cores")
    print(f"one Kalundborg step + map + charts (server): median {1000 * statistics.median(draws):.0f} ms, "
          f"best {1000 * min(draws):.0f} ms")
    if not Path(CHROMIUM).exists():
        print(f"no {CHROMIUM}: browser timings skipped")
        return 0
    interactive, trips = browser_side()
    print(f"page interactive after load (Chromium): median {statistics.median(interactive):.2f} s, "
          f"best {min(interactive):.2f} s")
    print(f"Step click to new day shown: median {1000 * statistics.median(trips):.0f} ms, "
          f"best {1000 * min(trips):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
