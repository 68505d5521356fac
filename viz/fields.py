"""What a user may type into the live page's number fields, and what the page says when it
is not that. Plain functions, so the messages are tested without a browser.

The synthetic park's size has an upper bound on the page: a frame (one day of the run and its
baseline, and the map) grows with the number of companies, and past a few hundred companies
the map is a blob and Play a slide show. `frame_seconds` is the estimate shown beside the field,
a straight line through what one frame took on the development machine (2 cores, December
2026, with other work running): 0.2 s at 50 companies, 0.3 s at 200, 0.6 s at 500, 1.2 s at
1,000. Larger parks run from `run.py simulate`.
"""

from __future__ import annotations

MIN_COMPANIES = 2
MAX_PAGE_COMPANIES = 500
FRAME_FIXED_S = 0.15  # a frame's cost that does not grow with the park
FRAME_PER_COMPANY_S = 0.001


def frame_seconds(companies: int) -> float:
    """Estimated seconds for one day of a synthetic park of `companies` companies, drawn."""
    return FRAME_FIXED_S + FRAME_PER_COMPANY_S * max(companies, 0)


def size_hint(companies: int) -> str:
    return (f"{MIN_COMPANIES}-{MAX_PAGE_COMPANIES} companies; about {frame_seconds(companies):.1f} s a day "
            f"at {companies}")


def _integer(text: str) -> int | None:
    t = str(text).strip().replace("_", "").replace(",", "")
    try:
        return int(t)
    except ValueError:
        try:
            f = float(t)
        except ValueError:
            return None
        return int(f) if f.is_integer() else None


def parse_size(text: str) -> tuple[int | None, str]:
    """(size, "") for a valid synthetic park size, else (None, the message for the field)."""
    n = _integer(text)
    if n is None:
        return None, f"a whole number of companies, {MIN_COMPANIES} to {MAX_PAGE_COMPANIES}"
    if n < MIN_COMPANIES:
        return None, f"at least {MIN_COMPANIES} companies"
    if n > MAX_PAGE_COMPANIES:
        return None, (f"at most {MAX_PAGE_COMPANIES} on this page (about {frame_seconds(n):.1f} s a day at {n}); "
                      f"larger parks run from run.py simulate --scenario synthetic:{n}")
    return n, ""


def parse_seed(text: str) -> tuple[int | None, str]:
    n = _integer(text)
    if n is None:
        return None, "a whole number, 0 or more"
    if n < 0:
        return None, "0 or more"
    if n >= 2**32:
        return None, "below 4,294,967,296"
    return n, ""


def parse_days(text: str) -> tuple[int | None, str]:
    """Days a Break now keeps a company down."""
    n = _integer(text)
    if n is None or n < 1:
        return None, "a whole number of days, 1 or more"
    if n > 3650:
        return None, "at most 3,650 days"
    return n, ""


def parse_amount(text: str) -> tuple[float | None, str]:
    """A non-negative amount (the social cost of carbon, EUR per t CO2)."""
    try:
        v = float(str(text).strip().replace(",", ""))
    except ValueError:
        return None, "a number, 0 or more"
    if not v >= 0 or v == float("inf"):
        return None, "a number, 0 or more"
    return v, ""
