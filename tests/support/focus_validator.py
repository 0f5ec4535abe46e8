"""Run the FinOps Foundation's FOCUS validator (PyPI ``focus-validator``) on silver rows.

The validator needs Python >= 3.12, so it lives in its own venv at
``.emulators/focus-validator-venv``, built once from pyenv's newest 3.12+ (or a
``python3.12``/``python3.13`` on PATH) and reused while its requirements are unchanged.
Quirks of 2.2.1 handled here: ``pyarrow<18`` is pinned (it pins numpy<2 but not pyarrow),
``--block-download`` keeps it offline on its bundled 1.2 model, and it runs with the working
directory set to its ``site-packages`` folder (it opens ``focus_validator/rules/
currency_codes.csv`` relative to the working directory, and writes its log there).

Results come from its JUnit XML report (``--output-type unittest``): every ``<failure>`` or
``<error>`` of a check that applied is a problem; ``<skipped>`` checks did not apply (an
applicability criterion we do not claim, or a rule the tool cannot check). A venv that
cannot be built raises :class:`FocusValidatorError`, never a skip.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EMULATORS_DIR = Path(os.environ.get("CONVERGENCE_EMULATORS_DIR", REPO / ".emulators"))
VENV = EMULATORS_DIR / "focus-validator-venv"
REQUIREMENTS = ("focus-validator==2.2.1", "pyarrow<18")
READY_MARKER = VENV / ".convergence-ready"
FOCUS_VERSION = "1.2"
TIMEOUT = 300.0
_BUILD_LOCK = threading.Lock()


class FocusValidatorError(RuntimeError):
    """The validator could not be installed or run; the message says what to fix."""


@dataclass(frozen=True)
class Check:
    """One validator check that applied and did not pass."""

    rule: str
    kind: str
    message: str


@dataclass(frozen=True)
class Report:
    """What the validator found: totals and every failing applicable check."""

    total: int
    skipped: int
    problems: tuple[Check, ...]

    @property
    def applied(self) -> int:
        """Checks that applied (ran) on the data."""
        return self.total - self.skipped


def _python312() -> Path:
    """Python 3.12 preferred: the validator pins numpy<2, which has no wheels for 3.13."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(root.glob("versions/3.12*/bin/python3"))
    candidates += sorted(root.glob("versions/3.1[3-9]*/bin/python3"))
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidates += [Path(folder) / n for n in ("python3.12", "python3.13")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FocusValidatorError(
        "focus-validator needs Python 3.12: install it with `pyenv install 3.12` "
        "or put python3.12 on PATH"
    )


def _check(argv: Sequence[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise FocusValidatorError(f"{what} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def ensure_validator() -> Path:
    """Build the validator venv once; fast when it is already there.

    Returns:
        The ``focus-validator`` executable.

    Raises:
        FocusValidatorError: no Python >= 3.12, or the venv/pip install failed.
    """
    executable = VENV / "bin" / "focus-validator"
    wanted = "\n".join(REQUIREMENTS)
    with _BUILD_LOCK:  # callers validate several files in parallel: build the venv once
        if executable.exists() and READY_MARKER.is_file() and READY_MARKER.read_text() == wanted:
            return executable
        EMULATORS_DIR.mkdir(parents=True, exist_ok=True)
        _check([str(_python312()), "-m", "venv", "--clear", str(VENV)], "create the venv")
        python = str(VENV / "bin" / "python")
        _check([python, "-m", "pip", "install", "-q", *REQUIREMENTS], "pip")
        READY_MARKER.write_text(wanted)
    return executable


def site_packages() -> Path:
    """The validator venv's ``site-packages`` folder (its required working directory)."""
    found = sorted(VENV.glob("lib/python3.*/site-packages"))
    if not found:
        raise FocusValidatorError(f"no site-packages under {VENV}: delete it and rerun")
    return found[-1]


def csv_value(value: Any) -> str:
    """A warehouse value as FOCUS CSV text (ISO 8601 UTC ``Z`` times, plain decimals)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def write_csv(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write rows (dicts with the same keys) as a CSV file; return the rows written."""
    count = 0
    with path.open("w", newline="") as handle:
        writer: Any = None
        for row in rows:
            if writer is None:
                writer = csv.writer(handle)
                writer.writerow(list(row))
            writer.writerow([csv_value(v) for v in row.values()])
            count += 1
    if count == 0:
        raise FocusValidatorError(f"no rows to validate for {path.name}")
    return count


def write_parquet(rows: Sequence[Mapping[str, Any]], path: Path) -> int:
    """Write rows as a Parquet file with the columns' own types (strings stay strings: a CSV
    of 12-digit AWS account ids is read back as integers); return the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        raise FocusValidatorError(f"no rows to validate for {path.name}")
    columns = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, Decimal):
            columns[name] = pa.array([None if v is None else float(v) for v in values])
        elif isinstance(sample, dict | list):
            columns[name] = pa.array([None if v is None else json.dumps(v) for v in values])
        elif sample is None or isinstance(sample, str):
            columns[name] = pa.array(values, pa.string())
        else:
            columns[name] = pa.array(values)
    pq.write_table(pa.table(columns), path)
    return len(rows)


def parse_report(xml_text: str) -> Report:
    """The checks of a JUnit report written by ``focus-validator --output-type unittest``."""
    root = ET.fromstring(xml_text)
    problems, total, skipped = [], 0, 0
    for case in root.iter("testcase"):
        total += 1
        for child in case:
            if child.tag == "skipped":
                skipped += 1
            elif child.tag in ("failure", "error"):
                name = case.get("name", "")
                problems.append(Check(name.split(" ::")[0], child.tag, child.get("message", "")))
    return Report(total, skipped, tuple(problems))


def validate(data_file: Path, criteria: Sequence[str]) -> Report:
    """Validate a CSV file against FOCUS 1.2 with the given applicability criteria.

    Raises:
        FocusValidatorError: the tool could not run or wrote no report.
    """
    executable = ensure_validator()
    report = data_file.with_suffix(".focus.xml")
    report.unlink(missing_ok=True)
    argv = [
        str(executable), "--data-file", str(data_file.resolve()),
        "--validate-version", FOCUS_VERSION, "--block-download",
        "--output-type", "unittest", "--output-destination", str(report.resolve()),
    ]  # fmt: skip
    if criteria:
        argv += ["--applicability-criteria", ",".join(criteria)]
    done = subprocess.run(
        argv, cwd=site_packages(), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if not report.is_file():
        raise FocusValidatorError(
            f"focus-validator wrote no report (exit {done.returncode}):\n"
            f"{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        )
    return parse_report(report.read_text())


if __name__ == "__main__":  # python -m tests.support.focus_validator FILE [CRITERIA,...]
    result = validate(Path(sys.argv[1]), sys.argv[2].split(",") if len(sys.argv) > 2 else [])
    print(f"{result.applied} applied, {result.skipped} skipped, {len(result.problems)} failing")
    for check in result.problems:
        print(f"  {check.kind}: {check.rule}: {check.message[:300]}")
