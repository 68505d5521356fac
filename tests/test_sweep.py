"""Sweeps: files are validated, rows do not depend on the executor, nothing finished is lost."""

import contextlib
import dataclasses
import json
import tomllib

import pandas as pd
import pytest

from experiments import sweep, sweep_run
from experiments.problems import InputError
from tests.conftest import EXAMPLE, run_cli
from tests.sweep_helpers import failing_on_point_1, first_in_driver_once_ray_is_up, kill_always, kill_once

SWEEP = f"""
[sweep]
name = "tiny"
design = "grid"
replicates = 2
seed = 11

[base]
scenario = "{EXAMPLE}"
steps = 8

[parameters]
"policy.carbon_tax" = [0, 60]
"market.mechanism" = ["call", "cda"]
"""


def spec(text: str = SWEEP) -> sweep.Sweep:
    return sweep.parse(tomllib.loads(text), "sweep tiny.toml", text)


VOLATILE = ("wall_s", "worker_pid", "worker_node", "worker_rss_mb", "started_unix")  # where and when a run ran


def stable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=list(VOLATILE)).sort_values("run_id").reset_index(drop=True)


def test_runs_cross_axes_and_share_seeds_across_points():
    runs = spec().runs()
    assert len(runs) == 2 * 2 * 2
    assert len({r.run_id for r in runs}) == len(runs)
    by_rep = {}
    for r in runs:
        by_rep.setdefault(r.replicate, set()).add(r.seed)
    assert all(len(s) == 1 for s in by_rep.values())  # common random numbers across points
    assert len({next(iter(s)) for s in by_rep.values()}) == 2


def test_sampled_designs_draw_reproducible_points_inside_the_ranges():
    text = SWEEP.replace('design = "grid"', 'design = "lhs"\nsamples = 5').replace(
        '"policy.carbon_tax" = [0, 60]', '"policy.carbon_tax" = { min = 10, max = 20 }')
    a, b = spec(text).points(), spec(text).points()
    assert a == b and len(a) == 5 * 2
    assert all(10 <= p["policy.carbon_tax"] <= 20 for p in a)
    sob = SWEEP.replace('design = "grid"', 'design = "sobol"\nsamples = 4').replace(
        '"policy.carbon_tax" = [0, 60]',
        '"policy.carbon_tax" = { min = 0, max = 50 }\n"policy.landfill_tax" = { min = 0, max = 50 }'
    ).replace('"market.mechanism" = ["call", "cda"]\n', "")
    assert len(spec(sob).points()) == 4 * (2 + 2)  # Saltelli without second order: N (D + 2)


@pytest.mark.parametrize("change, message", [
    (('design = "grid"', 'design = "grd"'), "sweep.design: unknown design 'grd' (did you mean 'grid'?)"),
    (('"policy.carbon_tax" = [0, 60]', '"policy.carbn_tax" = [0, 60]'),
     "parameters.policy.carbn_tax: unknown key (did you mean 'policy.carbon_tax'?)"),
    (('"policy.carbon_tax" = [0, 60]', '"policy.carbon_tax" = { min = 0, max = 60 }'), "needs a sampling design"),
    (('"policy.carbon_tax" = [0, 60]', '"policy.carbon_tax" = [0, -60]'), "value -60: must be >= 0"),
    (('replicates = 2', 'replicates = 0'), "sweep.replicates: must be an integer >= 1"),
    (('[base]', '[bse]'), "bse: unknown section (did you mean 'base'?)"),
    (('"market.mechanism" = ["call", "cda"]', '"market.mechanism" = ["call", "cdaa"]'), "did you mean 'cda'?"),
])
def test_bad_sweep_files_name_the_key_and_the_fix(change, message):
    with pytest.raises(InputError) as e:
        spec(SWEEP.replace(*change))
    assert any(message in p for p in e.value.problems), e.value.problems


@pytest.mark.slow  # a whole CLI run in a subprocess; the quick subset keeps others
def test_bad_sweep_file_on_the_command_line_exits_2_and_runs_nothing(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(SWEEP.replace('design = "grid"', 'design = "sobol"'))
    r = run_cli("sweep", str(f), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert "a sobol design varies ranges only" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_serial_sweep_writes_every_row_and_a_manifest(tmp_path):
    df = sweep_run.run_sweep(spec(), tmp_path / "s", progress=False)
    assert len(df) == 8 and (df["status"] == "ok").all()
    assert {"policy.carbon_tax", "market.mechanism", "gains_from_trade_eur", "market_efficiency", "seed"} <= set(df.columns)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["sweep_file"] == SWEEP and "numpy" in manifest["versions"]
    assert pd.read_parquet(tmp_path / "s" / "results.parquet").equals(df)


class Interrupt:
    """Runs normally, then raises KeyboardInterrupt (as Ctrl-C would) before run number `at`."""

    def __init__(self, at: int):
        self.at, self.count = at, 0

    def __call__(self, task):
        self.count += 1
        if self.count == self.at:
            raise KeyboardInterrupt
        return sweep_run.execute(task)


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_resume_after_an_interruption_loses_and_duplicates_nothing(tmp_path):
    full = stable(sweep_run.run_sweep(spec(), tmp_path / "full", progress=False))
    with pytest.raises(KeyboardInterrupt):
        sweep_run.run_sweep(spec(), tmp_path / "cut", run_fn=Interrupt(4), progress=False)
    partial = pd.read_parquet(tmp_path / "cut" / "results.parquet")
    assert len(partial) == 3
    with pytest.raises(InputError, match="add --resume"):
        sweep_run.run_sweep(spec(), tmp_path / "cut", progress=False)
    calls = []
    resumed = sweep_run.run_sweep(spec(), tmp_path / "cut", resume=True, progress=False,
                                  run_fn=lambda t: calls.append(t.run.run_id) or sweep_run.execute(t))
    assert len(calls) == 5 and not set(calls) & set(partial["run_id"])
    pd.testing.assert_frame_equal(stable(resumed), full)


def test_resuming_a_different_sweep_is_refused(tmp_path):
    sweep_run.run_sweep(spec(), tmp_path / "s", progress=False)
    with pytest.raises(InputError, match="holds a different sweep"):
        sweep_run.run_sweep(spec(SWEEP.replace("seed = 11", "seed = 12")), tmp_path / "s", resume=True, progress=False)


def test_a_failing_run_is_recorded_and_the_rest_complete(tmp_path):
    df = sweep_run.run_sweep(spec(), tmp_path / "s", run_fn=failing_on_point_1, progress=False)
    assert len(df) == 8
    bad = df[df["status"] == "error"]
    assert set(bad["point"]) == {1} and bad["error"].str.contains("file not found").all()
    assert (df[df["point"] != 1]["status"] == "ok").all()


def _loopback(ip: str) -> bool:
    import ipaddress

    a = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(a, "ipv4_mapped", None)
    return a.is_loopback or bool(mapped and mapped.is_loopback)


# --- Ray ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_ray():
    """Ray started as every command starts it (sweeps, comparisons, resilience, optimisation)."""
    import ray

    if ray.is_initialized():
        sweep_run.stop_ray()
    sweep_run.start_ray(2, None)
    yield ray
    sweep_run.stop_ray()


@pytest.mark.ray
@pytest.mark.slow
def test_local_ray_gives_the_serial_rows_retries_a_killed_worker_and_listens_on_loopback(tmp_path, local_ray):
    import psutil

    park = tmp_path / "park.toml"
    park.write_text(EXAMPLE.read_text())
    text = SWEEP.replace(str(EXAMPLE), str(park))
    serial = stable(sweep_run.run_sweep(spec(text), tmp_path / "serial", progress=False))
    on_ray = sweep_run.run_sweep(spec(text), tmp_path / "ray", workers=2, run_fn=kill_once, progress=False)
    assert (park.parent / "killed-p00002-r000").exists()  # the worker did die once
    pd.testing.assert_frame_equal(stable(on_ray), serial)
    assert on_ray["worker_pid"].nunique() >= 2
    exposed = []
    for c in psutil.net_connections(kind="inet"):
        if c.status == psutil.CONN_LISTEN and c.pid and not _loopback(c.laddr.ip):
            try:
                name = " ".join(psutil.Process(c.pid).cmdline())
            except psutil.Error:
                continue
            if "ray" in name:
                exposed.append((c.laddr, name[:80]))
    assert exposed == []


@pytest.mark.ray
@pytest.mark.slow
def test_a_local_ray_starts_lean_and_stops_every_process_it_started():
    """The node a command starts has no autoscaler monitor and no log monitor (a local node
    never grows, and workers' output is not sent to the driver: they cost a second of every
    small sweep), runs tasks, and leaves no process behind when stopped."""
    import psutil
    import ray

    was_up = ray.is_initialized()
    if was_up:
        sweep_run.stop_ray()
    try:
        assert sweep_run.start_ray(2, None)
        assert ray.cluster_resources()["CPU"] == 2
        assert ray.get(ray.remote(lambda: 6 * 7).remote()) == 42
        started = psutil.Process().children(recursive=True)
        names = [" ".join(p.cmdline()) for p in started]
        assert any("raylet" in n for n in names) and any("gcs_server" in n for n in names)
        assert not [n for n in names if "monitor.py" in n], names  # neither monitor.py nor log_monitor.py
        sweep_run.stop_ray()
        assert not ray.is_initialized()
        _, alive = psutil.wait_procs(started, timeout=10)
        assert [p.cmdline() for p in alive if "ray" in " ".join(p.cmdline())] == []
    finally:
        if was_up:
            sweep_run.start_ray(2, None)


@pytest.mark.ray
@pytest.mark.slow
def test_a_run_whose_worker_dies_on_every_retry_is_a_failed_row_and_the_sweep_goes_on(tmp_path, local_ray):
    out = sweep_run.run_sweep(spec(), tmp_path / "ray", workers=2, run_fn=kill_always, progress=False)
    assert len(out) == len(spec().runs())
    lost = out[out["point"] == 1]
    assert (lost["status"] == "error").all() and lost["error"].str.contains(f"died {sweep_run.RETRIES + 1} times").all()
    assert (out[out["point"] != 1]["status"] == "ok").all()


@pytest.mark.ray
@pytest.mark.slow
def test_batched_runs_give_the_serial_rows_and_a_batch_that_kills_its_worker_loses_only_its_killer(tmp_path,
                                                                                                   local_ray):
    """Three runs to a Ray task: the rows are the serial ones; the batches holding point 1 (whose
    run kills its worker every time) are split after Ray's retries and sent again one by one,
    so only point 1's runs are lost."""
    tasks = [sweep_run.Task(r, str(EXAMPLE), 8, spec().base_sets) for r in spec().runs()]
    serial = stable(pd.DataFrame(list(sweep_run._serial(tasks, sweep_run.execute))))
    batched = stable(pd.DataFrame(list(sweep_run._ray(tasks, sweep_run.execute, 2, None, overlap=False, batch=3))))
    pd.testing.assert_frame_equal(batched, serial)
    rows = pd.DataFrame(list(sweep_run._ray(tasks, kill_always, 2, None, overlap=False, batch=3)))
    assert len(rows) == len(tasks) and rows["run_id"].is_unique
    assert (rows[rows["point"] == 1]["status"] == "error").all()
    assert (rows[rows["point"] != 1]["status"] == "ok").all()


def test_batch_size_reaches_the_target_task_length_and_keeps_the_workers_busy():
    assert sweep_run._batch_size(400, 2, []) == 1  # nothing measured yet
    assert sweep_run._batch_size(400, 2, [0.05, 0.05, 0.06]) == 20  # 1 s of 50 ms runs
    assert sweep_run._batch_size(40, 2, [0.05]) == 5  # at most a quarter of a worker's share
    assert sweep_run._batch_size(400, 2, [3.0]) == 1  # long runs go one by one


@pytest.mark.ray
@pytest.mark.slow
def test_runs_go_on_in_the_driver_while_ray_starts_and_give_the_serial_rows(tmp_path, monkeypatch):
    """Ray takes seconds to start: the first runs are done in the driver meanwhile (their
    worker_pid is this process's), the rest on Ray's workers, and the rows are the serial ones.
    A sweep of the model's runs does this by itself; the second part makes sure both kinds of
    rows are there however fast Ray starts on the machine running the test."""
    import os

    import ray

    was_up = ray.is_initialized()
    if was_up:
        sweep_run.stop_ray()
    monkeypatch.setenv("ECOPARK_TEST_DRIVER_PID", str(os.getpid()))
    tasks = [sweep_run.Task(r, str(EXAMPLE), 8, spec().base_sets) for r in spec().runs()]
    try:
        serial = stable(sweep_run.run_sweep(spec(), tmp_path / "serial", progress=False))
        both = sweep_run.run_sweep(spec(), tmp_path / "ray", workers=2, progress=False)
        assert not ray.is_initialized()  # the sweep shut down the Ray it started
        mixed = pd.DataFrame(list(sweep_run._ray(tasks, first_in_driver_once_ray_is_up, 2, None, overlap=True)))
    finally:
        if was_up:
            sweep_run.start_ray(2, None)
    pd.testing.assert_frame_equal(stable(both), serial)
    assert (both["worker_pid"] == os.getpid()).sum() >= 1
    pd.testing.assert_frame_equal(stable(mixed), serial)
    assert (mixed["worker_pid"] == os.getpid()).sum() >= 1 and (mixed["worker_pid"] != os.getpid()).sum() >= 1


@pytest.mark.ray
@pytest.mark.slow
def test_a_two_node_cluster_gives_the_same_rows(tmp_path, local_ray):
    from ray.cluster_utils import Cluster

    serial = stable(sweep_run.run_sweep(spec(), tmp_path / "serial", progress=False))
    sweep_run.stop_ray()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1",
                                                            "include_dashboard": False})
    cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    try:
        local_ray.init(address=cluster.address)  # its nodes find the project by this process's PYTHONPATH
        assert len([n for n in local_ray.nodes() if n["Alive"]]) == 2
        got = sweep_run.run_sweep(spec(), tmp_path / "cluster", workers=2, progress=False)
    finally:
        local_ray.shutdown()
        cluster.shutdown()
        sweep_run.start_ray(2, None)  # leave the module fixture as it was
    pd.testing.assert_frame_equal(stable(got), serial)


def test_a_run_reads_its_scenario_from_the_text_shipped_with_it(tmp_path):
    """A cluster's nodes do not have the user's scenario file: the task carries its text, read
    where the sweep was started, and the run does not need the path."""
    task = sweep_run.Task.of(spec().runs()[0], str(EXAMPLE), 4, spec().base_sets)
    assert task.scenario_text == EXAMPLE.read_text()
    away = dataclasses.replace(task, scenario=str(tmp_path / "only-on-the-laptop" / "example.toml"))
    row = sweep_run.execute(away)
    assert row["status"] == "ok", row["error"]
    pd.testing.assert_frame_equal(stable(pd.DataFrame([row])), stable(pd.DataFrame([sweep_run.execute(task)])))
    assert sweep_run.Task.of(spec().runs()[0], "kalundborg", 4).scenario_text == ""  # every node has the built-ins


# A Ray cluster on this machine as `ray start --head` (and `ray start --address` on other machines)
# would make one, in a process of its own, but on 127.0.0.1 only (`ray start` itself refuses a
# second node on one machine unless Ray listens on every interface). It prints its address and
# its nodes' IDs, and shuts down when its stdin closes.
CLUSTER = """
import sys
sys.path.insert(0, sys.argv[1])
from experiments import sweep_run
sweep_run.ray_environment()
import ray
from ray.cluster_utils import Cluster
c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1",
                                                  "include_dashboard": False})
for _ in range(int(sys.argv[2]) - 1):
    c.add_node(num_cpus=1, node_ip_address="127.0.0.1")
c.wait_for_nodes()
ray.init(address=c.address)
print(c.address, *sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]), flush=True)
ray.shutdown()
sys.stdin.read()
c.shutdown()
"""


@contextlib.contextmanager
def another_ray(tmp_path, nodes: int):
    """(address, node IDs) of a Ray cluster another process runs while the block runs."""
    import subprocess
    import sys

    from tests.conftest import REPO

    holder = subprocess.Popen([sys.executable, "-c", CLUSTER, str(REPO), str(nodes)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        address, *ids = holder.stdout.readline().split()
        assert len(ids) == nodes
        yield address, ids
    finally:
        holder.stdin.close()  # the holder shuts its cluster down
        try:
            holder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            holder.kill()


@pytest.mark.ray
@pytest.mark.slow
def test_a_sweep_runs_on_a_two_node_cluster_with_nothing_but_address(tmp_path):
    """`run.py sweep FILE --address HOST:PORT` joins a running cluster: the project goes with
    the job, both nodes run runs, none runs in the command's own process, and the rows are the
    serial ones."""
    serial = stable(sweep_run.run_sweep(spec(), tmp_path / "serial", progress=False))
    f = tmp_path / "tiny.toml"
    f.write_text(SWEEP)
    with another_ray(tmp_path, 2) as (address, nodes):
        r = run_cli("sweep", str(f), "--out", str(tmp_path / "out"), "--address", address)
    assert r.returncode == 0, r.stderr
    assert f"on Ray at {address}" in r.stdout + r.stderr
    got = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert set(got["worker_node"]) == set(nodes)  # every run on a node of the cluster, and both nodes used
    pd.testing.assert_frame_equal(stable(got), serial)


@pytest.mark.ray
@pytest.mark.slow
def test_two_sweeps_on_one_machine_each_start_their_own_ray(tmp_path):
    """A second command's Ray must not join the first's (ray.init would, and then refuse
    num_cpus: the second sweep crashed with a ValueError)."""
    f = tmp_path / "tiny.toml"
    f.write_text(SWEEP)
    with another_ray(tmp_path, 1):  # another command's Ray, as `ray start` starts one (the newest ray.init finds)
        r = run_cli("sweep", str(f), "--out", str(tmp_path / "out"), "--workers", "2")
        assert r.returncode == 0, r.stderr
        assert len(pd.read_parquet(tmp_path / "out" / "results.parquet")) == len(spec().runs())
