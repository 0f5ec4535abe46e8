"""Source files: where an ingest step reads from (a provider REST API or a billing export).

A source file is YAML with a ``kind`` discriminator::

    kind: rest                     # RestSourceConfig: any JSON REST API (OpenAI, Anthropic, …)
    kind: bigquery_export          # BigQueryExportSourceConfig: GCP billing export tables
    kind: focus_files              # FocusFilesSourceConfig: FOCUS CSV/Parquet exports (AWS, Azure)
    kind: price_catalog            # PriceCatalogSourceConfig: list prices + negotiated rates
    kind: budgets                  # BudgetsSourceConfig: monthly budgets and alert thresholds

Secrets are never written in a source file: ``auth.secret`` is a secret NAME resolved per
tenant through the Secrets port at run time.

REST record mapping (``records``): ``path`` is the list of items in a page (the AI APIs'
``data`` buckets); ``each`` (optional) is the list inside every item that holds the rows
(their ``results``). Every row becomes one output row; ``columns`` maps an output column to a
dotted path in the row (``scope: item``) or in the enclosing bucket (``scope: parent``). The
column's BigQuery type (from the raw table's schema file) decides how the JSON value is
converted; money stays Decimal end to end, and a decimal with more places than its column holds
fails the page unless the column says ``rounding: half_even``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from events.ids import SLUG_PATTERN
from lib.config.budgets import BudgetsSourceConfig
from lib.config.documents import Located, read_document, read_text
from lib.config.focus_files import FocusFilesSourceConfig
from lib.config.prices import PriceCatalogSourceConfig
from lib.config.problems import did_you_mean, load_model
from lib.config.source_common import ProviderName
from lib.errors import ConfigError

if TYPE_CHECKING:
    from lib.schema import SchemaField

_FORBIDDEN_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "cookie"})
_HEADER_NAME = r"^[A-Za-z0-9][A-Za-z0-9\-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthConfig(_Strict):
    """How the provider key is sent. ``secret`` names it; its value comes from Secrets."""

    type: Literal["bearer", "api_key_header"]
    secret: str = Field(description="Secret NAME (e.g. openai_admin_key), never a key value.")
    header: str | None = Field(
        default=None,
        pattern=_HEADER_NAME,
        description="Header for api_key_header (e.g. x-api-key); bearer uses Authorization.",
    )

    @field_validator("secret")
    @classmethod
    def _secret_is_a_name(cls, value: str) -> str:
        if not re.fullmatch(SLUG_PATTERN, value):
            raise ValueError(
                "auth.secret must be a secret name (3-41 of lowercase a-z, 0-9, _), not a "
                "key value; store the key in the tenant's secrets and write its name here"
            )
        return value

    @model_validator(mode="after")
    def _header_for_api_key(self) -> AuthConfig:
        if self.type == "api_key_header" and not self.header:
            raise ValueError("auth.type api_key_header needs auth.header (e.g. x-api-key)")
        return self

    @property
    def header_name(self) -> str:
        """The header that carries the credential."""
        return self.header or "Authorization"


class PaginationConfig(_Strict):
    """How to walk pages. ``max_pages`` is the loop guard."""

    type: Literal["cursor", "page_number", "offset", "next_link", "none"] = "cursor"
    cursor_param: str = Field("page", description="cursor: query parameter carrying the cursor")
    next_cursor_field: str = Field("next_page", description="cursor: dotted path of next cursor")
    has_more_field: str | None = Field("has_more", description="dotted path of the has-more flag")
    page_param: str = Field("page", description="page_number: query parameter of the page")
    first_page: int = Field(1, ge=0, description="page_number: number of the first page")
    page_size_param: str | None = Field(
        None, description="page_number/offset: page size parameter (e.g. limit)"
    )
    page_size: int | None = Field(
        None, ge=1, description="page_number/offset: page size to request"
    )
    offset_param: str = Field(
        "offset", description="offset: query parameter of the first item's position (from 0)"
    )
    next_link_field: str = Field("next", description="next_link: dotted path of the next URL")
    max_pages: int = Field(1000, ge=1, le=1_000_000)


class RateLimitConfig(_Strict):
    """Client-side token bucket per source (per fetch)."""

    requests_per_minute: float = Field(60.0, gt=0)
    burst: int = Field(1, ge=1, description="requests allowed back to back before pacing")


class RetryConfig(_Strict):
    """Retries on 429 / 5xx / timeouts / connection errors, bounded twice."""

    max_attempts: int = Field(5, ge=1, le=100)
    initial_backoff_seconds: float = Field(1.0, ge=0)
    max_backoff_seconds: float = Field(60.0, ge=0)
    budget_seconds: float = Field(300.0, gt=0, description="total retry time for one page")
    timeout_seconds: float = Field(30.0, gt=0, description="per-request timeout")


_PATH_PATTERN = r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"
_COLUMN_TYPE = re.compile(r"^\s*([A-Za-z0-9]+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")
REST_TYPES = (
    "STRING",
    "INT64",
    "FLOAT64",
    "NUMERIC",
    "BIGNUMERIC",
    "BOOL",
    "TIMESTAMP",
    "DATETIME",
    "DATE",
    "JSON",
)
"""The BigQuery types a REST column can be declared as (docs/configuration.md#columns)."""


def parse_column_type(value: str) -> tuple[str, int | None, int | None]:
    """``BIGNUMERIC(38,24)`` → ``("BIGNUMERIC", 38, 24)``; legacy aliases folded.

    Raises:
        ValueError: not one of :data:`REST_TYPES`, or precision/scale out of range.
    """
    from lib.schema import CANONICAL_TYPES, SchemaField

    match = _COLUMN_TYPE.fullmatch(value)
    name = CANONICAL_TYPES.get(match[1].upper(), match[1].upper()) if match else ""
    if match is None or name not in REST_TYPES:
        guess = did_you_mean(value.upper(), REST_TYPES, str)
        raise ValueError(
            f"unknown column type {value[:40]!r}: {guess}write one of {', '.join(REST_TYPES)} "
            "(NUMERIC/BIGNUMERIC may take (precision, scale), e.g. BIGNUMERIC(38,24))"
        )
    precision = int(match[2]) if match[2] else None
    scale = int(match[3]) if match[3] else (0 if precision is not None else None)
    if precision is not None:
        if name not in ("NUMERIC", "BIGNUMERIC"):
            raise ValueError(f"{name} takes no (precision, scale); only NUMERIC/BIGNUMERIC do")
        SchemaField(name="c", type=name, precision=precision, scale=scale)
    return name, precision, scale


class ColumnConfig(_Strict):
    """Where an output column comes from, and (when the raw schema is derived) its type."""

    path: str = Field(pattern=_PATH_PATTERN)
    scope: Literal["item", "parent"] = "item"
    required: bool = Field(
        False, description="a row without it fails the page; the derived column is REQUIRED"
    )
    type: str | None = Field(
        None,
        description="BigQuery type of the raw column, e.g. TIMESTAMP, INT64, BIGNUMERIC(38,24) "
        "(default STRING); ignored when the destination names a schema file that agrees",
    )
    description: str = ""
    rounding: Literal["error", "half_even"] = Field(
        "error",
        description="NUMERIC/BIGNUMERIC: digits beyond the column's scale fail the page "
        "(error) or are rounded half-even (an explicit, documented loss)",
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None:
            parse_column_type(value)
        return value

    def schema_field(self, name: str) -> SchemaField:
        """The raw table column this mapping declares (type default STRING)."""
        from lib.schema import SchemaField

        kind, precision, scale = parse_column_type(self.type or "STRING")
        mode = "REQUIRED" if self.required else "NULLABLE"
        return SchemaField(
            name=name,
            type=kind,
            mode=mode,
            description=self.description,
            precision=precision,
            scale=scale,
        )


def _column(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


def _path_shorthand(schema: dict[str, Any]) -> None:
    """Editors: a column may also be written as its dotted path alone."""
    columns = schema["properties"]["columns"]
    columns["additionalProperties"] = {
        "anyOf": [{"type": "string", "pattern": _PATH_PATTERN}, columns["additionalProperties"]]
    }


class RecordsConfig(_Strict):
    """Where rows are in a page and how they map to output columns."""

    path: str = Field("data", description="dotted path of the list of items in a page")
    each: str | None = Field(None, description="list inside each item holding the rows")
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_path_shorthand)

    columns: dict[str, ColumnConfig] = Field(
        min_length=1,
        description="output column → where it comes from: a dotted path, or a mapping",
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _column(spec) for name, spec in value.items()}
        return value

    def schema_fields(self) -> list[SchemaField]:
        """The raw table's columns as the mapping declares them, in order."""
        return [spec.schema_field(name) for name, spec in self.columns.items()]

    @model_validator(mode="after")
    def _parent_needs_each(self) -> RecordsConfig:
        parents = [n for n, c in self.columns.items() if c.scope == "parent"]
        if parents and not self.each:
            raise ValueError(
                f"columns {parents} use scope: parent but records.each is not set; "
                "set records.each (e.g. results) or use scope: item"
            )
        return self


ParamValue = str | int | float | bool | list[str]


class RestSourceConfig(_Strict):
    """A provider REST endpoint returning JSON pages, fetched one day (window) at a time."""

    kind: Literal["rest"]
    provider: ProviderName = Field(
        description="Who serves the API, a free name (e.g. openai, mistral): labels the rows' "
        "source and names the base-URL override CONVERGENCE_<PROVIDER>_BASE_URL."
    )
    base_url: str = Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    endpoint: str = Field(pattern=r"^/[^\s?#]*$", description="path only, no query string")
    params: dict[str, ParamValue] = Field(default_factory=dict)
    start_param: str
    end_param: str | None = None
    time_format: Literal["unix", "rfc3339"] = "unix"
    auth: AuthConfig
    headers: dict[str, str] = Field(default_factory=dict)
    pagination: PaginationConfig = PaginationConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    retry: RetryConfig = RetryConfig()
    records: RecordsConfig

    @field_validator("headers")
    @classmethod
    def _no_credentials_in_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(_HEADER_NAME, name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if name.lower() in _FORBIDDEN_HEADERS:
                raise ValueError(
                    f"header {name!r} carries credentials; configure it with auth: instead"
                )
        return value


class BigQueryExportSourceConfig(_Strict):
    """GCP billing export tables, read inside the warehouse (rows never go through Python)."""

    kind: Literal["bigquery_export"]
    project: str | None = Field(None, description="project of the export dataset (default: ours)")
    dataset: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
    table_prefix: str = Field("gcp_billing_export_v1_", pattern=r"^[A-Za-z0-9_]+$")
    overlap_days: int = Field(
        1,
        ge=0,
        le=30,
        description="each run reads every row exported since the newest export_time already "
        "loaded minus this many days (rows become visible a little out of order); re-read "
        "rows merge in place",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_lookback(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lookback_days" in data:
            raise ValueError(
                "lookback_days was removed: each run now reads every row exported since the "
                "last load, however late; delete it (overlap_days sets the safety overlap)"
            )
        return data


AnySource = (
    RestSourceConfig
    | BigQueryExportSourceConfig
    | FocusFilesSourceConfig
    | PriceCatalogSourceConfig
    | BudgetsSourceConfig
)
SourceConfig = Annotated[AnySource, Field(discriminator="kind")]
SOURCE_KINDS: dict[str, type[AnySource]] = {
    "rest": RestSourceConfig,
    "bigquery_export": BigQueryExportSourceConfig,
    "focus_files": FocusFilesSourceConfig,
    "price_catalog": PriceCatalogSourceConfig,
    "budgets": BudgetsSourceConfig,
}


def load_source(path: Path) -> AnySource:
    """Load and validate a source YAML file.

    Args:
        path: the source file.

    Returns:
        The validated source config (one of the ``SourceConfig`` members).

    Raises:
        ConfigError: every problem, each naming the file, the field path and a hint.
    """
    text = read_text(path)
    cached = _LOADED.get((str(path), text))
    if cached is not None:
        return cached
    loaded = source_from(read_document(path), path)
    if len(_LOADED) >= 1024:
        _LOADED.clear()
    _LOADED[(str(path), text)] = loaded
    return loaded


def source_from(doc: Located, path: Path) -> AnySource:
    """Validate parsed source data (a file, or a file merged with a step's overrides).

    Raises:
        ConfigError: every problem, each naming the file that wrote the value, and its line.
    """
    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    model = SOURCE_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        kinds = ", ".join(repr(k) for k in SOURCE_KINDS)
        message = "missing `kind`" if kind is None else f"unknown kind {str(kind)[:40]!r}"
        raise ConfigError([doc.problem(("kind",), message, f"write one of {kinds}")])
    return load_model(path, model, doc)


_LOADED: dict[tuple[str, str], AnySource] = {}
"""Validated sources by (path, text), as :func:`lib.config.problems.load_model` keeps models."""
