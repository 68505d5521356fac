"""Run configs, scenario files, running and writing runs, and the studies built on them:
comparisons of schemes, sweeps and their sensitivity reports, optimisation, robustness curves,
what-if plans, history runs and the market lab."""
