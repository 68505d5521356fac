"""Run functions for sweep tests, in an importable module: Ray workers import them by name."""

import os
from pathlib import Path

from experiments import sweep_run


def failing_on_point_1(task):
    """A run whose scenario cannot be read, for point 1 only: the error is recorded."""
    import dataclasses

    if task.run.point == 1:
        task = dataclasses.replace(task, scenario=str(Path(task.scenario).with_name("missing.toml")), scenario_text="")
    return sweep_run.execute(task)


def kill_once(task):
    """Kills its worker process the first time it sees point 2, replicate 0."""
    marker = Path(task.scenario).parent / f"killed-{task.run.run_id}"
    if task.run.point == 2 and task.run.replicate == 0 and not marker.exists():
        marker.write_text("x")
        os._exit(1)
    return sweep_run.execute(task)


def kill_always(task):
    """Kills its worker process every time it runs point 1: a run no retry can finish."""
    if task.run.point == 1:
        os._exit(1)
    return sweep_run.execute(task)


def first_in_driver_once_ray_is_up(task):
    """In the driver (the process named by ECOPARK_TEST_DRIVER_PID) a run waits until Ray has
    started before it runs, so the sweep surely mixes runs done in the driver with Ray's."""
    import time

    if str(os.getpid()) == os.environ.get("ECOPARK_TEST_DRIVER_PID"):
        import ray

        while not ray.is_initialized():
            time.sleep(0.05)
        time.sleep(0.5)
    return sweep_run.execute(task)
