"""The Solara app: `solara run viz/app.py` (or `python run.py viz`).

Two routes: the live park (/) and the comparison of result folders (/compare).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `solara run viz/app.py` loads this file by path; the repo root must be importable.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import solara  # noqa: E402
import solara.server.settings  # noqa: E402

# No "This website runs on Solara" banner over the page's bottom right corner (it covered the
# company panel). `run.py viz` also sets SOLARA_THEME_SHOW_BANNER=false, for the first request.
solara.server.settings.theme.show_banner = False

from viz import pool  # noqa: E402
from viz.compare_page import ComparePage  # noqa: E402
from viz.live_page import LivePage  # noqa: E402

# The live page's models step and draw in worker processes (`ECOPARK_VIZ_WORKERS`, default the
# cores present), started now so that they have imported the models before the first page.
pool.serve()


@solara.component
def Layout(children=()):
    """Solara's AppLayout with tabs named by the routes' labels (its own tabs show paths)."""
    route, routes = solara.use_route()
    router = solara.use_router()
    paths = [solara.resolve_path(r, level=0) for r in routes]
    index = routes.index(route) if route in routes else 0
    with solara.AppBar() as bar:
        with solara.lab.Tabs(value=index, on_value=lambda i: router.push(paths[i]), align="center"):
            for r in routes:
                solara.lab.Tab(r.label, classes=[f"tab-{r.path.strip('/') or 'live'}"])
    return solara.AppLayout(children=[bar, *children], title="Ecopark")


routes = [
    # The root route's layout wraps every page (a module-level Layout is dropped when the app
    # module defines `routes`).
    solara.Route(path="/", component=LivePage, label="Live park", layout=Layout),
    solara.Route(path="compare", component=ComparePage, label="Compare results"),
]
