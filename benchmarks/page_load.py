"""Load figures of the live page: N headless Chromium sessions against one `run.py viz` server.

    uv run python benchmarks/page_load.py                  # 1, 5 and 10 sessions
    uv run python benchmarks/page_load.py --sessions 10 --play 10 --json out.json

For each N a fresh server is started (`python run.py viz` on a free loopback port, with any
`--viz-arg` passed on), then N browser contexts (separate Solara sessions, one Chromium) do,
all at once:

- load the page: *ready* is the time from the start of the load until the day counter reads 0;
- press Step together, `--rounds` times: *step to screen* is measured inside each page, from
  the click until the day counter shows the next day (so Playwright's own round trips do not
  count); the median and maximum are over every session and round;
- press Play together for `--play` seconds, then Pause: the days each session advanced.

The server's resident memory is the peak over the run, summed over the server process and its
children (the model workers). *errors* counts the lines of the server's log that read like an
error (a traceback, "Error", "Exception"). Prints a table; `--json` writes the figures too.

The browsers run on the same machine as the server and take a share of its cores: say so
beside any figure. Needs /usr/bin/chromium and Solara's asset cache, like tests/test_browser.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# A logged error: a traceback, or a line the server logs at ERROR or above.
ERROR = re.compile(r"^(Traceback|ERROR|CRITICAL)|^\w*(Error|Exception)\b")
DAY = ".kpi-day .kpi-value"

# Press Step inside the page and resolve with the milliseconds until the day counter changes:
# polled every animation frame, so the figure is when the browser has the new day to paint.
STEP_JS = """
async () => {
  const btn = () => document.querySelector('.btn-step');
  const day = () => document.querySelector('.kpi-day .kpi-value')?.textContent;
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const deadline = performance.now() + 60000;
  while (!btn() || btn().disabled) { if (performance.now() > deadline) return -1; await frame(); }
  const before = day();
  const t0 = performance.now();
  btn().click();
  while (day() === before) { if (performance.now() > deadline) return -1; await frame(); }
  return performance.now() - t0;
}
"""


DISCONNECTED_JS = "() => document.body.innerText.includes('Server disconnected')"
# Play is disabled while a Step's task finishes, which can outlast the day's change on the
# screen by a moment: clicked then, the click did nothing and that session never played (it was
# reported as a session Play does not advance). Wait until it can be pressed, as a user would.
PLAY_JS = """
async () => {
  const btn = () => document.querySelector('.btn-play');
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const deadline = performance.now() + 60000;
  while (!btn() || btn().disabled) { if (performance.now() > deadline) return false; await frame(); }
  btn().click();
  return true;
}
"""


@dataclass
class Figures:
    sessions: int
    ready_s: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    play_days: list[int] = field(default_factory=list)
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0
    errors: int = 0
    error_lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0  # CPU seconds of the page server's own process during the Steps
    worker_cpu_s: float = 0.0  # and of the processes under it (the model workers)
    browser_cpu_s: float = 0.0  # and of Chromium's processes, every session's tab (they share the machine)
    load_cpu_s: tuple[float, float, float] = (0.0, 0.0, 0.0)  # server, workers, Chromium while the pages loaded
    load_before: float = 0.0  # the machine's 1-minute load average as the run began: others' work too

    @property
    def step_median_s(self) -> float:
        return statistics.median(self.step_s) if self.step_s else float("nan")

    @property
    def step_max_s(self) -> float:
        return max(self.step_s) if self.step_s else float("nan")

    def summary(self) -> dict:
        return {**asdict(self), "ready_max_s": max(self.ready_s, default=float("nan")),
                "step_median_s": self.step_median_s, "step_max_s": self.step_max_s}


def chromium_cpu_s() -> float:
    """CPU seconds so far of every Chromium process of this benchmark (children of this process)."""
    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            if "chrom" in p.name().lower():
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python run.py viz` on a free loopback port, its log in a file, its memory sampled."""

    def __init__(self, log: Path, viz_args: tuple[str, ...] = (), start_timeout_s: float = 90.0, repo: Path = REPO,
                 app: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="false", SOLARA_THEME_SHOW_BANNER="false",
                   PYTHONUNBUFFERED="1")
        # `app`: a bare Solara app served as run.py serves ours, to tell Solara's own cost from the page's
        cmd = [str(Path(sys.executable).with_name("solara")), "run", str(app), "--host", "127.0.0.1", "--port",
               str(self.port), "--production"] if app is not None else \
            [sys.executable, str(repo / "run.py"), "viz", "--port", str(self.port), *viz_args]
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        try:
            self._wait(start_timeout_s)
        except BaseException:
            self.stop()
            raise
        self._sampler.start()

    def _wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {timeout_s} s:\n{self.log.read_text()[-3000:]}")

    def rss_mb(self) -> float:
        """Resident memory of the server and every process under it, in MB."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 1e6

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.peak_mb = max(self.peak_mb, self.rss_mb())

    def cpu_s(self) -> tuple[float, float]:
        """CPU seconds so far of the page server (Solara's process) and of the processes under it."""
        try:
            root = psutil.Process(self.proc.pid)
            # run.py's child `solara run` is the server; what runs under it, the workers
            solara = next((p for p in root.children() if "solara" in " ".join(p.cmdline())), root)
            own = solara.cpu_times()
            workers = [p.cpu_times() for p in solara.children(recursive=True)]
            return own.user + own.system, sum(w.user + w.system for w in workers)
        except psutil.NoSuchProcess:
            return 0.0, 0.0

    def error_lines(self) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if ERROR.search(line)]

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _session(browser, url: str, start: float, fig: Figures, timeout_ms: int):
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    await page.goto(url + "/", timeout=timeout_ms)
    await page.wait_for_function(f"document.querySelector('{DAY}')?.textContent === '0'", timeout=timeout_ms)
    await page.wait_for_selector(".btn-step", timeout=timeout_ms)
    fig.ready_s.append(time.perf_counter() - start)
    return context, page


async def _step(page, fig: Figures) -> None:
    ms = await page.evaluate(STEP_JS)
    if ms < 0:
        fig.failures.append("a step did not reach the screen within 60 s")
    else:
        fig.step_s.append(ms / 1000)


async def _day(page) -> int:
    return int(await page.locator(DAY).inner_text())


async def run_sessions(url: str, n: int, rounds: int = 3, play_s: float = 10.0, timeout_s: float = 120.0,
                       fig: Figures | None = None, server: Server | None = None) -> Figures:
    """N sessions against the server at `url`: load, `rounds` simultaneous Steps, Play."""
    from playwright.async_api import async_playwright

    fig = fig or Figures(n)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            start = time.perf_counter()
            load0 = (*(server.cpu_s() if server else (0.0, 0.0)), chromium_cpu_s())
            opened = await asyncio.gather(*(_session(browser, url, start, fig, int(timeout_s * 1000))
                                            for _ in range(n)), return_exceptions=True)
            pages = []
            for o in opened:
                if isinstance(o, BaseException):
                    fig.failures.append(f"load: {o!r}"[:300])
                else:
                    pages.append(o[1])
            cpu0 = server.cpu_s() if server else (0.0, 0.0)
            browser0 = chromium_cpu_s()
            fig.load_cpu_s = tuple(b - a for a, b in zip(load0, (*cpu0, browser0)))  # type: ignore[assignment]
            for _ in range(rounds):
                await asyncio.gather(*(_step(p, fig) for p in pages))
            fig.browser_cpu_s = chromium_cpu_s() - browser0
            if server:
                cpu1 = server.cpu_s()
                fig.server_cpu_s, fig.worker_cpu_s = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
            gone = sum(await asyncio.gather(*(p.evaluate(DISCONNECTED_JS) for p in pages)))
            if gone:
                fig.failures.append(f"{gone} of {len(pages)} pages show 'Server disconnected'")
            if play_s > 0 and pages:
                # Clicked from inside the page, as Step is: Playwright's click waits for
                # whatever overlay a failed session shows and would stop the whole run.
                before = await asyncio.gather(*(_day(p) for p in pages))
                pressed = await asyncio.gather(*(p.evaluate(PLAY_JS) for p in pages))
                await asyncio.sleep(play_s)
                pressed += await asyncio.gather(*(p.evaluate(PLAY_JS) for p in pages))
                if not all(pressed):
                    fig.failures.append(f"Play or Pause stayed disabled for 60 s in {pressed.count(False)} presses")
                await asyncio.sleep(1.0)
                after = await asyncio.gather(*(_day(p) for p in pages))
                fig.play_days = [a - b for a, b in zip(after, before)]
            for o in opened:
                if not isinstance(o, BaseException):
                    await o[0].close()
        finally:
            await browser.close()
    return fig


# The least page Solara serves: a day counter and a Step button with the selectors the sessions
# wait for and press. What its sessions cost is Solara's own front end (its JavaScript, CSS and
# fonts, and the widget manager), whatever the page draws.
BARE_APP = """
import solara

day = solara.reactive(0)


@solara.component
def Page():
    with solara.Div(classes=["kpi-day"]):
        solara.Text(str(day.value), classes=["kpi-value"])
    solara.Button("Step", classes=["btn-step"], on_click=lambda: day.set(day.value + 1))
"""


def measure(n: int, rounds: int = 3, play_s: float = 10.0, viz_args: tuple[str, ...] = (),
            log_dir: Path | None = None, repo: Path = REPO, bare: bool = False) -> Figures:
    """Start a server, run N sessions against it, stop it; the figures with its memory and log."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="page-load-"))
    log = log_dir / f"server-{n}.log"
    fig = Figures(n, load_before=os.getloadavg()[0])
    app = None
    if bare:
        app = log_dir / "bare_app.py"
        app.write_text(BARE_APP)
        play_s = 0.0  # it has no Play
    server = Server(log, viz_args, repo=repo, app=app)
    try:
        time.sleep(1.0)  # the server's own start settles before the sessions come
        asyncio.run(run_sessions(server.url, n, rounds, play_s, fig=fig, server=server))
        fig.rss_end_mb = server.rss_mb()
        fig.rss_peak_mb = max(server.peak_mb, fig.rss_end_mb)
    finally:
        server.stop()
    lines = server.error_lines()
    # One error is often logged twice (an ERROR line, then its traceback): count the larger.
    fig.errors = max(sum(line.startswith("Traceback") for line in lines),
                     sum(line.startswith(("ERROR", "CRITICAL")) for line in lines))
    fig.error_lines = lines[:10]
    return fig


def table(figs: list[Figures]) -> str:
    rows = ["| sessions | ready, median / max | step to screen, median / max | days played a session "
            "(min-max) | server RSS peak | errors |", "|---|---|---|---|---|---|"]
    for f in figs:
        ready = f"{statistics.median(f.ready_s):.1f} / {max(f.ready_s):.1f} s" if f.ready_s else "-"
        play = f"{min(f.play_days)}-{max(f.play_days)}" if f.play_days else "-"
        failed = f" + {len(f.failures)} failed" if f.failures else ""
        rows.append(f"| {f.sessions} | {ready} | {f.step_median_s:.2f} / {f.step_max_s:.2f} s | {play} | "
                    f"{f.rss_peak_mb / 1000:.2f} GB | {f.errors}{failed} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", default="1,5,10", help="comma-separated session counts (default 1,5,10)")
    ap.add_argument("--rounds", type=int, default=3, help="simultaneous Steps per run (default 3)")
    ap.add_argument("--play", type=float, default=10.0, help="seconds of Play (default 10; 0 skips it)")
    ap.add_argument("--viz-arg", action="append", default=[], help="an argument passed on to `run.py viz`")
    ap.add_argument("--repo", type=Path, default=REPO,
                    help="the checkout whose run.py serves the page (default this one): before/after figures "
                         "from one script, e.g. an exported older commit")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--bare", action="store_true",
                    help="serve a bare Solara page (a counter and a Step button) instead: Solara's own cost")
    args = ap.parse_args(argv)
    figs = []
    for n in (int(x) for x in args.sessions.split(",")):
        fig = measure(n, args.rounds, args.play, tuple(args.viz_arg), repo=args.repo.resolve(), bare=args.bare)
        figs.append(fig)
        print(f"{n} sessions: ready max {max(fig.ready_s, default=float('nan')):.1f} s, step to screen median "
              f"{fig.step_median_s:.2f} s max {fig.step_max_s:.2f} s, RSS peak {fig.rss_peak_mb:.0f} MB, "
              f"errors {fig.errors}, failures {len(fig.failures)}, load before {fig.load_before:.1f}; CPU during the "
              f"Steps: server {fig.server_cpu_s:.1f} s, workers {fig.worker_cpu_s:.1f} s, Chromium "
              f"{fig.browser_cpu_s:.1f} s; while loading: server {fig.load_cpu_s[0]:.1f} s, workers "
              f"{fig.load_cpu_s[1]:.1f} s, Chromium {fig.load_cpu_s[2]:.1f} s", flush=True)
        for line in fig.error_lines + fig.failures:
            print("   ", line[:200])
    print(f"\n{os.cpu_count()} cores; the browsers share them with the server.\n")
    print(table(figs))
    if args.json:
        args.json.write_text(json.dumps([f.summary() for f in figs], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
