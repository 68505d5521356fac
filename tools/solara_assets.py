"""Fill Solara's front-end asset cache from the npm registry, for machines that cannot reach
Solara's CDN (firewalls, CI). Idempotent: packages already in the cache are left alone.

    uv run python tools/solara_assets.py            # fill the cache (about 10 s the first time)
    uv run python tools/solara_assets.py --check    # exit 1 and name what is missing

The Solara page loads its JavaScript and CSS through its own proxy (`/_solara/cdn/...`), which
fetches each file from a public CDN the first time and keeps it in a cache folder. Where the CDN
is blocked the page stays blank. This tool fetches the same packages with `npm pack` (from the
npm registry, or whatever registry `npm config get registry` names: a company mirror works) and
unpacks them in the cache under the exact names the page asks for.

The cache folder is `SOLARA_ASSETS_PROXY_CACHE_DIR` if set, else `$VIRTUAL_ENV/share/solara/cdn`
(Solara's default, `sys.prefix/share/solara/cdn`). Ecopark draws with matplotlib, so the Vega
packages Altair needs are only fetched with `--altair`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# (folder name the page asks for, npm spec, a file that must exist once unpacked)
PACKAGES: tuple[tuple[str, str, str], ...] = (
    ("@widgetti/solara-vuetify-app@10.1.1", "@widgetti/solara-vuetify-app@10.1.1", "dist/solara-vuetify-app8.min.js"),
    ("@widgetti/vue-grid-layout@2.3.13-alpha.2", "@widgetti/vue-grid-layout@2.3.13-alpha.2", "dist/vue-grid-layout.umd.js"),
    ("requirejs@2.3.6", "requirejs@2.3.6", "require.js"),
    ("font-awesome@4.5.0", "font-awesome@4.5.0", "css/font-awesome.min.css"),
)
ALTAIR: tuple[tuple[str, str, str], ...] = (
    ("vega@5", "vega@5", "build/vega.min.js"),
    ("vega-lite@5", "vega-lite@5", "build/vega-lite.min.js"),
    ("vega-embed@6", "vega-embed@6", "build/vega-embed.min.js"),
)


def cache_dir() -> Path:
    """Where Solara's asset proxy looks, by the same rule as `solara.server.settings`."""
    env = os.environ.get("SOLARA_ASSETS_PROXY_CACHE_DIR")
    if env:
        return Path(env)
    return Path(sys.prefix) / "share" / "solara" / "cdn"


def missing(cache: Path | None = None, altair: bool = False) -> list[str]:
    """The packages whose key file is not in the cache."""
    cache = cache or cache_dir()
    wanted = PACKAGES + (ALTAIR if altair else ())
    return [name for name, _, probe in wanted if not (cache / name / probe).is_file()]


def _unpack(tgz: Path, target: Path) -> None:
    """Unpack an npm tarball (whose files sit under `package/`) into `target`, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        with tarfile.open(tgz) as tar:
            members = []
            for m in tar.getmembers():
                if not (m.isfile() or m.isdir()):
                    continue  # no links or devices from a downloaded archive
                parts = Path(m.name).parts
                if len(parts) < 2 or ".." in parts:
                    continue
                m.name = str(Path(*parts[1:]))  # strip the leading `package/`
                members.append(m)
            tar.extractall(tmp, members=members, filter="data")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fill(cache: Path | None = None, altair: bool = False, quiet: bool = False) -> list[str]:
    """Fetch and unpack every missing package; return the names fetched."""
    cache = cache or cache_dir()
    todo = set(missing(cache, altair))
    wanted = [p for p in PACKAGES + (ALTAIR if altair else ()) if p[0] in todo]
    if not wanted:
        if not quiet:
            print(f"Solara asset cache complete: {cache}")
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("error: npm not found; install Node.js (e.g. `apt-get install -y npm`) or copy a filled "
                         f"cache folder to {cache}")
    fetched = []
    with tempfile.TemporaryDirectory(prefix="solara-assets-") as work:
        for name, spec, _ in wanted:
            if not quiet:
                print(f"fetching {spec} ...", flush=True)
            r = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", work],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                raise SystemExit(f"error: `npm pack {spec}` failed (registry {_registry(npm)}):\n{r.stderr.strip()}")
            tgz = Path(work) / r.stdout.strip().splitlines()[-1]
            _unpack(tgz, cache / name)
            fetched.append(name)
    left = missing(cache, altair)
    if left:
        raise SystemExit(f"error: unpacked but still missing in {cache}: {', '.join(left)}")
    if not quiet:
        print(f"Solara asset cache filled: {cache} ({', '.join(fetched)})")
    return fetched


def _registry(npm: str) -> str:
    r = subprocess.run([npm, "config", "get", "registry"], capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only check; exit 1 and list what is missing")
    p.add_argument("--altair", action="store_true", help="also fetch vega, vega-lite and vega-embed (Altair charts)")
    p.add_argument("--cache-dir", type=Path, help="cache folder (default: SOLARA_ASSETS_PROXY_CACHE_DIR or "
                                                  "$VIRTUAL_ENV/share/solara/cdn)")
    args = p.parse_args(argv)
    cache = args.cache_dir or cache_dir()
    if args.check:
        left = missing(cache, args.altair)
        if left:
            print(f"missing in {cache}: {', '.join(left)}; run `uv run python tools/solara_assets.py`")
            return 1
        print(f"Solara asset cache complete: {cache}")
        return 0
    fill(cache, args.altair)
    return 0


if __name__ == "__main__":
    sys.exit(main())
