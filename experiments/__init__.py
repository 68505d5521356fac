"""Run configs, scenario files, running and writing runs; later sweeps and analysis."""
