"""FOCUS file sources: cost exports already in FOCUS (AWS Data Exports, Azure Cost Management).

``kind: focus_files`` names a bucket prefix that receives a provider's FOCUS 1.0-1.2 export
as CSV or Parquet files, one folder per billing period::

    kind: focus_files
    provider: aws                         # the x_provider of its rows
    convention: aws                       # aws | azure | focus (column conventions)
    bucket: acme-finops-exports           # GCS bucket; locally {CONVERGENCE_HOME}/buckets/<bucket>
    prefix: focus/aws
    period_path: "BILLING_PERIOD={start:%Y-%m}"
    format: parquet                       # parquet | csv

A run loads every file of each billing period its window touches (plus
``reload_previous_periods`` before it) and replaces that period's rows: a re-delivered export
replaces what was loaded before, rows it no longer holds included (lib/providers/focus_files.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lib.config.source_common import ProviderName

__all__ = ["FocusFilesSourceConfig", "period_folder"]

_BUCKET = r"^[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]$"
_PREFIX = r"^([A-Za-z0-9._=\-]+/)*[A-Za-z0-9._=\-]+/?$"
_FIELD = re.compile(r"\{([^}:]*)(?::([^}]*))?\}")


def period_folder(template: str, start: dt.date) -> str:
    """The folder of the billing period starting on ``start`` (``{start:…}``, ``{end:…}``).

    ``end`` is the period's last day (Azure names folders ``20261101-20261130``).
    """
    following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    end = following - dt.timedelta(days=1)
    return template.format(start=start, end=end)


def _template(value: str) -> str:
    names = {m.group(1) for m in _FIELD.finditer(value)}
    if not names or not names <= {"start", "end"}:
        raise ValueError(
            f"{value!r}: name the billing period with {{start:%Y-%m}} and/or {{end:%Y%m%d}}, "
            'e.g. "BILLING_PERIOD={start:%Y-%m}" (AWS) or "{start:%Y%m%d}-{end:%Y%m%d}" (Azure)'
        )
    try:
        folder = period_folder(value, dt.date(2026, 1, 1))
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"{value!r} is not a valid period path: {exc}") from exc
    if "/" in folder.strip("/") and ".." in folder.split("/"):
        raise ValueError(f"{value!r} may not contain '..'")
    if not re.fullmatch(_PREFIX, folder):
        raise ValueError(f"{value!r} gives {folder!r}: use letters, digits, . _ = - and /")
    return value


class FocusFilesSourceConfig(BaseModel):
    """A provider's FOCUS export files under a bucket prefix, one folder per billing period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["focus_files"]
    provider: ProviderName = Field(
        description="x_provider of the rows (e.g. aws, azure): the silver slice it owns"
    )
    convention: Literal["aws", "azure", "focus"] = Field(
        default="focus",
        description="whose column conventions the files follow: aws (Data Exports FOCUS 1.0/1.2 "
        "with AWS columns), azure (Cost Management FOCUS exports) or focus (plain)",
    )
    bucket: str = Field(pattern=_BUCKET, description="the GCS bucket the export is copied to")
    prefix: str = Field(pattern=_PREFIX, description="folder of the export under the bucket")
    period_path: Annotated[str, AfterValidator(_template)] = Field(
        default="BILLING_PERIOD={start:%Y-%m}",
        description="the billing period's folder under prefix",
    )
    format: Literal["parquet", "csv"] = "parquet"
    reload_previous_periods: int = Field(
        default=1,
        ge=0,
        le=12,
        description="billing periods before the window's to load again each run (providers "
        "restate a closed month until its invoice is final)",
    )
