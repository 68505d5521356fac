"""Finding and reading a TOML file named by a built-in name or a path (schemes, histories)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from experiments.problems import InputError, nearest


def builtin_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml"))


def read(kind: str, folder: Path, name_or_path: str) -> tuple[Path, dict[str, Any]]:
    """`folder/NAME.toml` for a built-in name, else the file at that path, parsed; an
    InputError naming the nearest built-in, or the TOML error, otherwise."""
    if not str(name_or_path).strip():
        raise InputError([f"{kind}: the name is empty: give a built-in {kind} ({', '.join(builtin_names(folder))}) "
                          f"or a .toml path"])
    path = folder / f"{name_or_path}.toml"
    if not path.exists():
        path = Path(name_or_path)
    if path.is_dir():
        raise InputError([f"{kind} '{name_or_path}': is a folder, not a {kind} file: give a .toml file"])
    if not path.exists():
        names = builtin_names(folder)
        guess = nearest(name_or_path, names)
        hint = f" (did you mean '{guess}'?)" if guess else f" (built-in: {', '.join(names)})"
        raise InputError([f"{kind} '{name_or_path}': no built-in {kind} or file of that name{hint}"])
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError([f"{kind} {path.name}: not valid TOML: {e}"]) from None
    except OSError as e:
        raise InputError([f"{kind} {path}: cannot be read ({e.strerror})"]) from None
