"""Ecopark command line: simulate a park, list scenarios, open the browser page.

    python run.py                      # Kalundborg, 365 daily steps, seed 0, outputs in results/
    python run.py simulate --scenario chemelot --steps 100 --set policy.carbon_tax=80 --out out/
    python run.py scenarios
    python run.py viz                  # the browser page on http://127.0.0.1:8765/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.problems import InputError

OVERWRITE_HELP = "replace an earlier output of this command at --out (never a folder of other files)"

DEFAULT_ARGS = ["simulate"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run.py", description="Ecopark: simulate eco-industrial parks whose companies trade surplus resources.",
        epilog="With no command, runs `simulate` on the default scenario (kalundborg, 365 steps, seed 0).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("simulate", help="run one park and its no-exchange baseline, write outputs",
                       description="Run one park beside its no-symbiosis baseline (same seed, exchanges off), "
                                   "print a summary and write summary.json, timeseries.parquet, trades.parquet "
                                   "and config.toml.")
    s.add_argument("--scenario", help="built-in name (see `run.py scenarios`), synthetic:SIZE[:SEED], or a .toml path "
                                      "(default: kalundborg)")
    s.add_argument("--steps", type=int, help="steps to simulate, a step is a day (default 365)")
    s.add_argument("--seed", type=int, help="root seed of the run (default 0)")
    s.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="set a config key by dotted path, e.g. policy.carbon_tax=80 (repeatable); "
                        "`run.py keys` lists them")
    s.add_argument("--out", type=Path, help="output folder (default results/SCENARIO-seedSEED)")
    s.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    s.add_argument("--quiet", action="store_true", help="print only the output folder")

    lab = sub.add_parser("market-lab", help="classic induced-value market experiments beside published figures",
                         description="Run the Gode & Sunder, Cliff, McAfee, call-market and bilateral experiments "
                                     "on Ecopark's mechanisms and strategies, with no park, and print them beside "
                                     "the published figures. With --market, run them on your own schedule of bids "
                                     "and asks (docs/market-lab.md).")
    lab.add_argument("--seeds", type=int, default=50, help="random markets (or seeds) per experiment (default 50)")
    lab.add_argument("--market", type=Path, help="a TOML file of buyers' values and sellers' costs to replay")

    sw = sub.add_parser("sweep", help="run a parameter sweep serially or on Ray, resumable",
                        description="Run every run of a sweep file (docs/sweeps.md). Each finished run is written "
                                    "as it completes to DIR/runs/, and DIR/results.parquet holds them all, so an "
                                    "interrupted sweep continues with --resume. With --workers 1 it runs serially; "
                                    "otherwise on a local Ray bound to 127.0.0.1, or on the cluster at --address.")
    sw.add_argument("file", type=Path, help="the sweep file (TOML)")
    sw.add_argument("--out", type=Path, required=True, help="the sweep folder")
    sw.add_argument("--workers", type=int, default=1, help="parallel runs (default 1: serial, no Ray)")
    sw.add_argument("--address", help="join an existing Ray cluster: auto, HOST:PORT or ray://HOST:PORT "
                                      "(default: $RAY_ADDRESS when set with --workers > 1, else a local Ray)")
    sw.add_argument("--resume", action="store_true", help="continue the sweep already in --out")

    op = sub.add_parser("optimise", help="search for the schemes that best trade off KPIs (NSGA-II), resumable",
                        description="Search the levers of an optimisation file (docs/sweeps.md, \"Optimisation\") "
                                    "for the non-dominated schemes: each candidate runs on every scenario and "
                                    "replicate on common seeds, each run is written as it finishes, and DIR gets "
                                    "results.parquet, candidates.csv, pareto.csv and .png, convergence.csv and .png, "
                                    "and schemes/ that run.py compare --schemes takes.")
    op.add_argument("file", type=Path, help="the optimisation file (TOML); optimisations/ holds examples")
    op.add_argument("--out", type=Path, required=True, help="the optimisation folder")
    op.add_argument("--workers", type=int, default=1, help="parallel runs (default 1: serial, no Ray)")
    op.add_argument("--address", help="join an existing Ray cluster: auto, HOST:PORT or ray://HOST:PORT")
    op.add_argument("--evaluations", type=int, help="candidates to evaluate (default: the file's)")
    op.add_argument("--resume", action="store_true", help="continue the optimisation already in --out")

    rp = sub.add_parser("report", help="tables, sensitivity indices and charts of a sweep folder",
                        description="Write DIR/report/: the mean and 95 % confidence interval of each KPI per "
                                    "parameter combination, Sobol or Morris indices when the design was one, PNG "
                                    "charts of KPIs against each parameter, and an EMA Workbench export.")
    rp.add_argument("dir", type=Path, help="a sweep folder (with results.parquet)")
    rp.add_argument("--kpis", help="KPIs to chart, comma-separated (default: gains_from_trade_eur, "
                                   "savings_vs_baseline_eur, co2_avoided_t, market_efficiency)")

    viz = sub.add_parser("viz", help="start the browser page: the live park and the comparison of results",
                         description="Start the Solara page (live park at /, comparison of result folders at "
                                     "/compare) and print its address. Offline machines first fill Solara's asset "
                                     "cache once: uv run python tools/solara_assets.py")
    viz.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    viz.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only)")
    viz.add_argument("--results", type=Path, help="folder whose result folders the comparison page lists "
                                                  "(default results/)")
    viz.add_argument("--workers", type=int, default=None,
                     help="worker processes the live page's runs step in (default: ECOPARK_VIZ_WORKERS, else the "
                          "cores present; 0 steps them in the server process)")
    viz.add_argument("--idle-minutes", type=float, default=None,
                     help="free a live run left idle this long; the page then starts it again from day 0 "
                          "(default: ECOPARK_VIZ_IDLE_S seconds, else 30 minutes)")

    cp = sub.add_parser("compare", help="compare incentive schemes on common seeds",
                        description="Run each incentive scheme (policies/NAME.toml or a path) on the same seeds "
                                    "and print and write each KPI's mean and 95 % confidence interval per scheme, "
                                    "the government's net cost and the cost per tonne of CO2 avoided against the "
                                    "first scheme.")
    cp.add_argument("--scenario", default=None, help="built-in name, synthetic:N or a path (default kalundborg)")
    cp.add_argument("--schemes", default="baseline,carbon-tax,landfill-tax,exchange-subsidy",
                    help="comma-separated schemes; the first is the reference (default: %(default)s)")
    cp.add_argument("--replicates", type=int, default=5, help="seeds per scheme (default 5)")
    cp.add_argument("--steps", type=int, default=365, help="steps per run (default 365)")
    cp.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    cp.add_argument("--workers", type=int, default=1, help="parallel runs on a local Ray (default 1: serial)")
    cp.add_argument("--address", help="join an existing Ray cluster: auto, HOST:PORT or ray://HOST:PORT")
    cp.add_argument("--out", type=Path, help="output folder (default results/compare-SCENARIO)")
    cp.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)

    hi = sub.add_parser("history", help="validate against history: start with no links, form them over the years",
                        description="Start a park with no links at all and the prices of past years "
                                    "(scenarios/history/NAME.toml), run it year by year, and report which historical "
                                    "links formed in the model, in what order, and which company is the hub.")
    hi.add_argument("name", nargs="?", default="kalundborg", help="built-in history or a path (default kalundborg)")
    hi.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    hi.add_argument("--seeds", type=int, default=1, help="run seeds SEED, SEED+1, ... and give the figures of each, "
                                                         "their mean and range (default 1)")
    hi.add_argument("--workers", type=int, default=1, help="seeds run in parallel processes (default 1)")
    hi.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="cooperation.* or market.* settings for the run, e.g. cooperation.pipe_per_km_eur=2e6")
    hi.add_argument("--out", type=Path, help="output folder (default results/history-NAME)")
    hi.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)

    rs = sub.add_parser("resilience", help="the most critical companies and the park's robustness curve",
                        description="Remove each company in turn and measure what the park loses (the most critical "
                                    "first), then remove companies one by one by highest degree and at random: the "
                                    "robustness curve of the park's gains. Prints both and writes CSV files and a chart.")
    rs.add_argument("--scenario", default="kalundborg", help="built-in name, synthetic:N or a path (default kalundborg)")
    rs.add_argument("--steps", type=int, default=90, help="steps per run (default 90: a quarter of a year)")
    rs.add_argument("--seed", type=int, default=0, help="seed of every run and of the random orders (default 0)")
    rs.add_argument("--random-orders", type=int, default=10, help="random removal orders averaged (default 10)")
    rs.add_argument("--workers", type=int, default=1, help="parallel runs on a local Ray (default 1: serial)")
    rs.add_argument("--out", type=Path, help="output folder (default results/resilience-SCENARIO)")
    rs.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)

    from experiments import whatif
    whatif.add_parser(sub)

    sub.add_parser("scenarios", help="list the built-in scenarios", description="List the built-in scenarios.")
    sub.add_parser("keys", help="list the config keys --set accepts", description="List every config key and its default.")
    return p


def cmd_simulate(args: argparse.Namespace) -> int:
    from experiments.config import parse_sets, resolve

    # Input is checked before the model's heavier imports, so a typo is reported at once.
    cfg, park = resolve(args.scenario, args.steps, args.seed, parse_sets(args.sets))
    from experiments import limits
    est = limits.check_run(len(park.companies), cfg.steps)
    if est.seconds > 60:
        print(f"{park.name}: {cfg.steps:,} steps of {len(park.companies):,} companies, estimated {est.describe()}")

    from tqdm import tqdm

    from experiments import runner
    from experiments import outputs
    from experiments.destination import default_folder
    from experiments.report_text import render

    out = args.out or default_folder(
        Path("results") / f"{cfg.scenario.replace(':', '-').replace('/', '_').removesuffix('.toml')}-seed{cfg.seed}")
    with outputs.claim(out, args.overwrite) as claimed:  # before the run: a refused run wastes nothing
        with tqdm(total=runner.steps_to_run(cfg, park), desc=f"{park.name}", unit="step", leave=False,
                  disable=None) as bar:
            result = runner.simulate(cfg, park, bar)
        outputs.write_run(result, out, claimed=claimed)
    if not args.quiet:
        print(render(result.summary))
    print(f"Outputs written to {out}/ (summary.json, timeseries.parquet, trades.parquet, production.parquet, decisions.parquet, "
          f"config.toml)")
    return 0


def cmd_market_lab(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        raise InputError([f"--seeds: must be at least 1, got {args.seeds}"])
    from experiments import market_lab

    market = market_lab.read_market(args.market) if args.market else None
    rows = market_lab.run(args.seeds, market)
    title = (f"Market lab: {market.name} from {args.market}" if market else
             "Market lab: induced-value experiments on Ecopark's mechanisms")
    print(market_lab.render(rows, title, () if market else (market_lab.NOT_RUN,)))
    return 0 if all(r.ok for r in rows) else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    from experiments import sweep, sweep_run

    if args.workers < 1:
        raise InputError([f"--workers: must be at least 1, got {args.workers}"])
    spec = sweep.read(args.file)
    n = len(spec.runs())
    where = "serially" if args.workers == 1 and not args.address else (
        f"on Ray at {args.address}" if args.address else f"on a local Ray with {args.workers} workers (127.0.0.1)")
    print(f"Sweep '{spec.name}': {n} runs ({len(spec.points())} points x {spec.replicates} replicates), {where}")
    try:
        df = sweep_run.run_sweep(spec, args.out, args.workers, args.address, args.resume)
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are kept in {args.out}/runs; continue with --resume", file=sys.stderr)
        return 130
    failed = int((df["status"] != "ok").sum()) if len(df) else 0
    print(f"{len(df)} of {n} runs finished, {failed} failed; results in {args.out}/results.parquet")
    print(f"  pandas: pd.read_parquet('{args.out}/results.parquet'); report: python run.py report {args.out}")
    return 0


def cmd_optimise(args: argparse.Namespace) -> int:
    from experiments import optimise, optimise_run

    if args.workers < 1:
        raise InputError([f"--workers: must be at least 1, got {args.workers}"])
    spec = optimise.read(args.file, args.evaluations)
    where = "serially" if args.workers == 1 and not args.address else (
        f"on Ray at {args.address}" if args.address else f"on a local Ray with {args.workers} workers (127.0.0.1)")
    print(f"Optimisation '{spec.name}' ({spec.algorithm}): {spec.evaluations} candidates x "
          f"{spec.runs_per_candidate()} runs ({len(spec.scenarios)} scenario(s) x {spec.replicates} replicates), {where}")
    try:
        outcome = optimise_run.run(spec, args.out, args.workers, args.address, args.resume)
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are kept in {args.out}/runs; continue with --resume", file=sys.stderr)
        return 130
    print(optimise_run.render(outcome))
    extra = f", and {len(outcome.schemes)} schemes in {args.out}/schemes/" if outcome.schemes else ""
    print(f"Written to {args.out}/ (results.parquet, candidates.csv, pareto.csv, pareto.png, convergence.csv, "
          f"convergence.png{extra})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from experiments import report

    print(report.write_report(args.dir, report.chart_kpis(args.kpis)))
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    import os
    import shutil
    import signal
    import subprocess

    from tools.solara_assets import cache_dir, missing

    if not 0 < args.port < 65536:
        raise InputError([f"--port: must be between 1 and 65535, got {args.port}"])
    if args.results is not None and not args.results.is_dir():
        raise InputError([f"--results {args.results}: no such folder"])
    if args.workers is not None and args.workers < 0:
        raise InputError([f"--workers: must be 0 or more, got {args.workers}"])
    if args.idle_minutes is not None and not args.idle_minutes > 0:
        raise InputError([f"--idle-minutes: must be more than 0, got {args.idle_minutes}"])
    exe = Path(sys.executable).with_name("solara")
    solara = str(exe) if exe.exists() else shutil.which("solara")
    if solara is None:
        raise InputError(["viz: the `solara` command is not installed in this environment; run `uv sync`"])
    left = missing(cache_dir())
    if left:
        print(f"warning: Solara's asset cache ({cache_dir()}) lacks {', '.join(left)}. Without a network the page "
              "stays blank; fill the cache once with: uv run python tools/solara_assets.py", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can use the page, and its "
              "comparison tab reads any folder path typed into it", file=sys.stderr)
    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="false", SOLARA_THEME_SHOW_BANNER="false")
    if args.results is not None:
        env["ECOPARK_RESULTS"] = str(args.results.resolve())
    if args.workers is not None:
        env["ECOPARK_VIZ_WORKERS"] = str(args.workers)
    if args.idle_minutes is not None:
        env["ECOPARK_VIZ_IDLE_S"] = str(60 * args.idle_minutes)
    app = Path(__file__).resolve().parent / "viz" / "app.py"
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Ecopark page: http://{shown}:{args.port}/ (live park; comparison at /compare). Ctrl-C stops it.",
          flush=True)
    proc = subprocess.Popen([solara, "run", str(app), "--host", args.host, "--port", str(args.port), "--production"],
                            env=env)

    def stop(signum, frame):  # `kill` (SIGTERM) stops the server with this process, as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from experiments import compare, schemes
    from experiments.config import resolve
    from experiments.destination import claim_folder, default_folder

    problems = []
    for flag, v in (("--replicates", args.replicates), ("--steps", args.steps), ("--workers", args.workers)):
        if v < 1:
            problems.append(f"{flag}: must be at least 1, got {v}")
    found = []
    try:
        found = schemes.load_list(args.schemes.split(","))
    except InputError as e:
        problems += e.problems
    if problems:
        raise InputError(problems)
    cfg, park = resolve(args.scenario, args.steps, args.seed, {})
    from experiments import limits
    est = limits.check_runs(len(found) * args.replicates, len(park.companies), args.steps, "--replicates x --schemes")
    order = [s.name for s in found]
    out = args.out or default_folder(
        Path("results") / f"compare-{cfg.scenario.replace(':', '-').replace('/', '_').removesuffix('.toml')}")
    with claim_folder(out, "compare", compare.FILES, args.overwrite) as claimed:  # before the runs
        print(f"Comparing {', '.join(order)} on {park.name}: {args.replicates} replicates x {args.steps} steps"
              + (f", estimated {est.describe()} run one after another" if est.seconds > 60 else ""))
        df = compare.run(cfg.scenario, found, args.replicates, args.steps, args.seed, args.workers, args.address)
        failed = df[df["status"] != "ok"]
        table = compare.summarise(df, order)
        compare.write(df, table, order, claimed)
    print(compare.render(table, order))
    print(f"reference: {order[0]}; ± is the 95 % confidence half-width over replicates")
    if len(failed):
        print(f"{len(failed)} runs failed: see {out}/runs.parquet (column error)")
    print(f"Written to {out}/ (compare.csv, compare.png, runs.parquet)")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    import json

    from experiments import history
    from experiments.destination import claim_folder, default_folder
    from experiments.config import RunConfig, apply, parse_sets

    problems = [f"{flag}: must be {lo_text}, got {v}" for flag, v, ok, lo_text in (
        ("--seed", args.seed, args.seed >= 0, ">= 0"), ("--seeds", args.seeds, 1 <= args.seeds <= 1000, "between 1 and 1000"),
        ("--workers", args.workers, 1 <= args.workers <= 256, "between 1 and 256")) if not ok]
    if problems:
        raise InputError(problems)
    sets = parse_sets(args.set)
    bad = [k for k in sets if not k.startswith(("cooperation.", "market."))]
    if bad:
        raise InputError([f"--set {k}: a history run takes cooperation.* and market.* keys only (its prices and "
                          f"policy come from the history file)" for k in bad])
    cfg = apply(RunConfig(), sets)
    h = history.load(args.name)
    coop = cfg.cooperation if "cooperation.new_relations_per_year" in sets else h.cooperation(cfg.cooperation)
    out = args.out or default_folder(Path("results") / f"history-{h.name}")
    years = h.end_year - h.start_year + 1
    seeds = list(range(args.seed, args.seed + args.seeds))
    files = ("history.json", "seeds.csv")
    with claim_folder(out, "history", files, args.overwrite) as claimed:  # before the run
        print(f"Running {h.scenario.name} from {h.start_year} to {h.end_year} ({years} years) from no links"
              + (f", seeds {seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else "") + " ...")
        from tqdm import tqdm
        if len(seeds) == 1 or args.workers == 1:
            results = []
            for seed in seeds:
                with tqdm(total=years * h.scenario.steps_per_year, unit="step", disable=None, leave=False,
                          desc=f"seed {seed}") as bar:
                    results.append(history.run(h, seed, coop, cfg.market, bar))
        else:
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(max_workers=min(args.workers, len(seeds))) as pool:
                results = list(tqdm(pool.map(history.run, [h] * len(seeds), seeds, [coop] * len(seeds),
                                             [cfg.market] * len(seeds)), total=len(seeds), unit="seed",
                                    disable=None, leave=False))
        print(history.render(results[0]))
        if len(results) > 1:
            print()
            print(history.render_seeds(results))

        def fill(tmp: Path) -> None:
            (tmp / "history.json").write_text(json.dumps(results[0].summary(), indent=2) + "\n", encoding="utf-8")
            if len(results) > 1:
                import pandas as pd
                pd.DataFrame(history.seed_rows(results)).to_csv(tmp / "seeds.csv", index=False)

        claimed.write_folder(fill)
    print(f"Written to {out}/history.json" + (" and seeds.csv (one row of figures per seed)" if len(results) > 1 else "")
          + (f"; the table above is seed {seeds[0]}'s" if len(results) > 1 else ""))
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    from experiments import whatif

    return whatif.run_command(args)


def cmd_resilience(args: argparse.Namespace) -> int:
    from experiments import robustness

    return robustness.run_command(args.scenario, args.steps, args.seed, args.random_orders, args.out, args.workers,
                                  overwrite=args.overwrite)


def cmd_scenarios(args: argparse.Namespace) -> int:
    from experiments import scenario_io

    print("Built-in scenarios:")
    for name in scenario_io.builtin_names():
        park = scenario_io.load(name)
        first = (park.description.strip().splitlines() or [""])[0]
        print(f"  {name:<14} {len(park.companies):>3} companies  {first}")
    print("  synthetic:N    a generated park of N companies from a library of process recipes "
          "(synthetic:N:SEED for another park)")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from experiments.config import RunConfig, keys

    from experiments.config import EVENT_KEYS

    defaults = RunConfig().to_dict()
    for key, t in keys().items():
        if key in EVENT_KEYS:
            print(f"  {key:<34} {'NAME@STEP:DURATION':<18} repeatable, none by default")
            continue
        value = defaults
        for part in key.split("."):
            value = value[part]
        print(f"  {key:<34} {getattr(t, '__name__', str(t)):<18} default {value!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv or DEFAULT_ARGS)
    if args.command is None:
        args = _parser().parse_args(DEFAULT_ARGS + argv)
    handlers = {"simulate": cmd_simulate, "scenarios": cmd_scenarios, "keys": cmd_keys,
                "market-lab": cmd_market_lab, "sweep": cmd_sweep, "optimise": cmd_optimise, "report": cmd_report, "viz": cmd_viz,
                "compare": cmd_compare, "history": cmd_history, "resilience": cmd_resilience,
                "whatif": cmd_whatif}
    try:
        return handlers[args.command](args)
    except InputError as e:
        for line in e.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    except OSError as e:
        import errno

        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Outputs are written beside their destination and renamed into place only when whole,
        # so what a full disk stopped is not presented as done.
        where = f" writing {e.filename}" if e.filename else ""
        print(f"error: the disk is full{where}: nothing half-written was kept (earlier outputs are as they were); "
              f"free some space and run the command again", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
