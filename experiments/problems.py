"""Collecting every problem with a user's input before refusing it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(Exception):
    """Bad input from a user: one or more problems, each a full sentence naming where and what.

    The command line prints them and exits with status 2, without a traceback.
    """

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def nearest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to `name`, if any is close enough to be a likely typo."""
    found = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return found[0] if found else None


class Problems:
    """Gathers problems under one prefix (e.g. "scenario park.toml")."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.items: list[str] = []

    def add(self, path: str, message: str, valid: Iterable[str] | None = None, got: str | None = None) -> None:
        hint = ""
        if valid is not None and got is not None:
            guess = nearest(got, valid)
            if guess is not None:
                hint = f" (did you mean '{guess}'?)"
            else:
                options = sorted(str(v) for v in valid)
                if options:
                    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
                    hint = f" (valid: {shown})"
        where = f"{path}: " if path else ""
        self.items.append(f"{self.prefix}: {where}{message}{hint}")

    def raise_if_any(self) -> None:
        if self.items:
            raise InputError(self.items)
