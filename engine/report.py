"""`benefits report`: the operations figures of a range of months as one self-contained HTML file,
the same charts and tables as ``/dashboard``, readable with no server and no network."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

from engine.errors import UserError
from engine.wiring import open_engine

MONTH = re.compile(r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])")
REGION_PREFIX = re.compile(r"[0-9]{2}(?:[0-9]{2}){0,2}")


def report(store: str, from_month: str, to_month: str, out: Path, region: str | None) -> None:
    """Write the figures of ``from_month``..``to_month`` (``YYYY-MM``), for regions starting with
    ``region`` (a 2-, 4- or 6-digit prefix; all when None), from ``store`` to ``out``."""
    from api.dashboard import render_report
    from projections.kpis import kpis_from_store

    for value, option in ((from_month, "--from"), (to_month, "--to")):
        if not MONTH.fullmatch(value):
            raise UserError(f"{option} must be a month written YYYY-MM, got {value!r}")
    if from_month > to_month:
        raise UserError(f"--from {from_month} comes after --to {to_month}")
    if region is not None and not REGION_PREFIX.fullmatch(region):
        raise UserError(f"--region takes a 2-, 4- or 6-digit region prefix, got {region!r}")
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; name the HTML file to write")
    engine = open_engine(store, must_exist=True)
    try:
        last_day = engine.view.last_processed_day() or date.today()
        prefixes = [region] if region else None
        kpis = kpis_from_store(engine.view, from_month, to_month, prefixes, last_day)
        kpis["region"] = region
    finally:
        engine.close()
    html = render_report(kpis)
    # Written beside the target and renamed: a reader never sees half a report.
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        partial.write_text(html, encoding="utf-8")
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"--out {out}: cannot write the report: {exc.strerror or exc}") from None
