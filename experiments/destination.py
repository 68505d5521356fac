"""Where a command writes: never over anything the user did not make, never two writers at once.

Every command that writes a folder (`simulate`, `compare`, `history`, `resilience`) or a file
(`whatif --out`) claims its destination before any work starts:

- a folder that does not exist, or is empty, is taken;
- a folder holding an earlier output of the same command and nothing else (the marker
  `.ecopark.json` that Ecopark writes into every output folder, and that command's files) is
  replaced only with `--overwrite`;
- anything else is refused, exit 2, and left as it is: a file where a folder is expected, a
  folder holding other files or another command's outputs; for a file output, an existing file
  (replaced only with `--overwrite`) or a folder;
- a second command writing the same destination at once is refused with the first's PID: the
  claim holds a lock file beside the destination (`.NAME.lock`) until the command ends; a lock
  left by a process that no longer runs is taken over.

Without --out, a command writes to its default folder, or, when an earlier run holds it, to
the first free `NAME-2`, `NAME-3`, ... (`default_folder`).

The outputs themselves land whole or not at all (`experiments.atomic`): a folder is filled
beside its destination and renamed into place with the marker.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

from experiments.atomic import swap_into_place, write_text
from experiments.problems import InputError

MARKER = ".ecopark.json"


def _listing(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _marker(folder: Path) -> dict | None:
    try:
        doc = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def folder_problem(out: Path, command: str, ours: Callable[[str], bool], overwrite: bool, flag: str = "--out") -> str | None:
    """Why `command` may not write its folder at `out`, or None. `ours(name)` says whether a
    file name is one of the command's own outputs (for folders written before markers)."""
    if not out.exists():
        return None
    if not out.is_dir():
        return f"{flag} {out}: is a file, not a folder: give a folder for the outputs (a new one, or an empty one)"
    try:
        names = sorted(p.name for p in out.iterdir())
    except OSError as e:
        return f"{flag} {out}: cannot be read ({e.strerror}): choose another folder"
    if not names:
        return None
    mark = _marker(out)
    if mark is not None and mark.get("command") != command:
        return (f"{flag} {out}: holds the outputs of `run.py {mark.get('command')}`, not of `{command}`: "
                f"choose another folder")
    foreign = [n for n in names if n != MARKER and not ours(n)]
    if foreign:  # even in an earlier output: a note the user added there is theirs
        return (f"{flag} {out}: the folder holds files Ecopark did not write ({_listing(foreign)}): they would be "
                f"replaced with it, so it is left alone; give a new or empty folder")
    if not overwrite:
        return (f"{flag} {out}: holds an earlier `{command}` output: add --overwrite to replace it, or give another "
                f"folder")
    return None


def file_problem(out: Path, overwrite: bool, flag: str = "--out") -> str | None:
    """Why a command may not write its file at `out`, or None."""
    if out.is_dir():
        return f"{flag} {out}: is a folder: give a file name, e.g. {out / 'whatif.csv'}"
    if out.exists() and not overwrite:
        return f"{flag} {out}: the file exists: add --overwrite to replace it, or give another name"
    return None


class Claim:
    """A destination claimed for one command: checked, and locked until `release`."""

    def __init__(self, out: Path, command: str, problem: str | None, flag: str):
        self.out = Path(out)
        self.command = command
        self.flag = flag
        if problem:
            raise InputError([problem])
        where = self.out.resolve()
        self.lock = where.parent / f".{where.name}.lock"
        self._take_lock()

    def _take_lock(self) -> None:
        try:
            self.lock.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError([f"{self.flag} {self.out}: cannot create the folder it goes in ({e.strerror}): "
                              f"choose a place you can write"]) from None
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = _pid_in(self.lock)
                if pid is not None and _alive(pid):
                    raise InputError([f"{self.flag} {self.out}: another Ecopark command (PID {pid}) is writing "
                                      f"there now: wait for it to finish, or give another folder"]) from None
                self.lock.unlink(missing_ok=True)  # left by a process that is gone
                continue
            except OSError as e:
                raise InputError([f"{self.flag} {self.out}: cannot write in {self.out.parent} ({e.strerror}): "
                                  f"choose a place you can write"]) from None
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            return
        raise InputError([f"{self.flag} {self.out}: could not take the lock {self.lock}: remove it if no Ecopark "
                          f"command is running"])

    def release(self) -> None:
        if _pid_in(self.lock) == os.getpid():
            self.lock.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def write_folder(self, fill: Callable[[Path], None]) -> Path:
        """Fill a temporary folder beside the destination with `fill(folder)`, add the marker,
        and rename it into place (replacing the earlier output the claim allowed)."""
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.partial-", dir=self.out.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; an output folder is an ordinary one
        try:
            fill(tmp)
            (tmp / MARKER).write_text(json.dumps({
                "written_by": "ecopark", "command": self.command,
                "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=2) + "\n", encoding="utf-8")
            swap_into_place(tmp, self.out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.out

    def write_file(self, text: str) -> Path:
        write_text(self.out, text)
        return self.out


def claim_folder(out: Path, command: str, files: Iterable[str] | Callable[[str], bool], overwrite: bool = False,
                 flag: str = "--out") -> Claim:
    """Check and lock the folder `command` will write (its own file names: `files`)."""
    ours = files if callable(files) else set(files).__contains__
    return Claim(out, command, folder_problem(Path(out), command, ours, overwrite, flag), flag)


def write_into(out: Path | Claim, command: str, files: Iterable[str] | Callable[[str], bool],
               fill: Callable[[Path], None], overwrite: bool = False) -> Path:
    """`Claim.write_folder(fill)` into `out`: a claim taken before the work, or a path claimed
    (and released) here."""
    claimed = out if isinstance(out, Claim) else claim_folder(Path(out), command, files, overwrite)
    try:
        return claimed.write_folder(fill)
    finally:
        if claimed is not out:
            claimed.release()


def default_folder(base: Path) -> Path:
    """Where a command writes when the user gave no --out: `base` while it is free (missing or
    empty), else the first free `base-2`, `base-3`, ...: an earlier run's outputs are kept, and
    the command prints where the new ones went."""
    base = Path(base)
    n = 1
    out = base
    while out.exists() and (not out.is_dir() or any(out.iterdir())):
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def lock(out: Path, command: str, flag: str = "--out") -> Claim:
    """Only the lock: for a command that manages its folder itself (a sweep, which refuses a
    folder that is not its own and resumes into it), so that two never write it at once."""
    return Claim(out, command, None, flag)


def claim_file(out: Path, command: str, overwrite: bool = False, flag: str = "--out") -> Claim:
    """Check and lock the file `command` will write."""
    return Claim(out, command, file_problem(Path(out), overwrite, flag), flag)


def _pid_in(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
