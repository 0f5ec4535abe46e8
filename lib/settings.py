"""Settings read once from the environment (and ``.env``); the wiring function consumes them.

Every variable, its default and meaning: docs/operations.md, section *Settings* (a test keeps
that table and :meth:`Settings.from_env` in step). The logging and tracing setup
(lib/observability.py, lib/tracing.py) read ``CONVERGENCE_LOG_FORMAT``, ``CONVERGENCE_LOG_LEVEL``
and the standard ``OTEL_*`` variables from the same environment.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Mode = Literal["local", "cloud"]
SecretsBackend = Literal["secret-manager", "env"]
DEFAULT_DUCKDB_MEMORY = "50%"
"""Half the machine's memory: big loads and queries run in memory, spilling only beyond it."""
_MEMORY = re.compile(r"^(\d+(\.\d+)?)\s*(%|[KMGT]i?B)$", re.IGNORECASE)


def read_dotenv(path: Path) -> dict[str, str]:
    """The ``KEY=VALUE`` pairs of a ``.env`` file (python-dotenv's parser: quotes, escapes,
    ``export`` prefixes, comments); keys without a value are left out."""
    from dotenv import dotenv_values

    if not path.is_file():
        return {}
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


@dataclass(frozen=True)
class Settings:
    """Everything the wiring needs to pick and configure adapters."""

    mode: Mode = "local"
    home: Path = Path(".convergence")
    config_dir: Path = Path("configs")
    project: str = ""
    bq_location: str = "EU"
    bq_kms_key_name: str | None = None
    disable_auth: bool = False
    bus_backoff_scale: float = 1.0
    api_body_timeout_seconds: float = 10.0
    secrets_backend: SecretsBackend | None = None  # None: the mode's default
    bigquery_endpoint: str | None = None
    bq_retry_deadline_seconds: float = 600.0
    fixed_now: dt.datetime | None = None
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY
    duckdb_threads: int | None = None
    base_url_overrides: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    buckets_dir: Path | None = None

    def bucket_folder(self, bucket: str, path: str) -> str:
        """Where the warehouse reads ``path`` of a bucket: ``gs://bucket/path`` in the cloud,
        ``{buckets_dir or HOME/buckets}/bucket/path`` on the embedded default."""
        path = path.strip("/")
        if self.mode == "cloud":
            return f"gs://{bucket}/{path}"
        return str((self.buckets_dir or self.home / "buckets") / bucket / path)

    @property
    def duckdb_path(self) -> Path:
        """The embedded warehouse file."""
        return self.home / "convergence.duckdb"

    @property
    def bus_dir(self) -> Path:
        """Where the in-process bus journals its deliveries and keeps dead letters."""
        return self.home / "bus"

    @property
    def secrets_source(self) -> SecretsBackend:
        """Where secrets are read: ``CONVERGENCE_SECRETS``, else Secret Manager in cloud mode."""
        if self.secrets_backend is not None:
            return self.secrets_backend
        return "secret-manager" if self.mode == "cloud" else "env"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``.env`` overlaid by ``os.environ``)."""
        env = dict(read_dotenv(Path(".env"))) if environ is None else {}
        env.update(os.environ if environ is None else environ)
        mode = env.get("CONVERGENCE_MODE", "local")
        if mode not in ("local", "cloud"):
            raise ValueError(f"CONVERGENCE_MODE must be 'local' or 'cloud', not {mode!r}")
        secrets = env.get("CONVERGENCE_SECRETS") or None
        if secrets not in (None, "secret-manager", "env") or (
            mode == "local" and secrets not in (None, "env")
        ):
            raise ValueError(
                f"CONVERGENCE_SECRETS must be 'secret-manager' or 'env' in cloud mode and 'env' "
                f"(or unset) in local mode, not {secrets!r}"
            )
        endpoint = env.get("CONVERGENCE_BIGQUERY_ENDPOINT") or None
        fixed_now = _fixed_now(env.get("CONVERGENCE_FIXED_NOW") or None)
        if fixed_now and mode == "cloud" and not endpoint:
            raise ValueError(
                "CONVERGENCE_FIXED_NOW stops the clock; it is refused in cloud mode unless "
                "CONVERGENCE_BIGQUERY_ENDPOINT points at an emulator"
            )
        overrides = {
            key.removeprefix("CONVERGENCE_").removesuffix("_BASE_URL").lower(): value
            for key, value in env.items()
            if key.startswith("CONVERGENCE_") and key.endswith("_BASE_URL")
        }
        return cls(
            mode=mode,  # type: ignore[arg-type]
            home=Path(env.get("CONVERGENCE_HOME", ".convergence")),
            config_dir=Path(env.get("CONVERGENCE_CONFIG_DIR", "configs")),
            project=env.get("GOOGLE_CLOUD_PROJECT", env.get("GCP_PROJECT", "")),
            bq_location=env.get("CONVERGENCE_BQ_LOCATION", "EU"),
            bq_kms_key_name=env.get("CONVERGENCE_BQ_KMS_KEY") or None,
            disable_auth=env.get("DISABLE_AUTH", "false").lower() in ("1", "true", "yes"),
            bus_backoff_scale=_scale(env.get("CONVERGENCE_BUS_BACKOFF_SCALE", "1")),
            api_body_timeout_seconds=_seconds(
                "CONVERGENCE_API_BODY_TIMEOUT_SECONDS",
                env.get("CONVERGENCE_API_BODY_TIMEOUT_SECONDS", "10"),
            ),
            secrets_backend=secrets,  # type: ignore[arg-type]
            bigquery_endpoint=endpoint,
            bq_retry_deadline_seconds=_seconds(
                "CONVERGENCE_BQ_RETRY_DEADLINE_SECONDS",
                env.get("CONVERGENCE_BQ_RETRY_DEADLINE_SECONDS", "600"),
            ),
            fixed_now=fixed_now,
            duckdb_memory_limit=_memory(env.get("CONVERGENCE_DUCKDB_MEMORY_LIMIT", "")),
            duckdb_threads=_threads(env.get("CONVERGENCE_DUCKDB_THREADS", "")),
            base_url_overrides=overrides,
            environ=env,
            buckets_dir=Path(env["CONVERGENCE_BUCKETS_DIR"])
            if env.get("CONVERGENCE_BUCKETS_DIR")
            else None,
        )


def _scale(raw: str) -> float:
    try:
        scale = float(raw)
    except ValueError:
        scale = -1.0
    if not scale >= 0:  # also refuses NaN
        raise ValueError(
            f"CONVERGENCE_BUS_BACKOFF_SCALE must be a number of 0 or more (1 waits the "
            f"topology's backoff, 0 redelivers at once), not {raw!r}"
        )
    return scale


def _seconds(name: str, raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:  # also refuses NaN
        raise ValueError(f"{name} must be a number of seconds above 0 (at most 3600), not {raw!r}")
    return seconds


def _fixed_now(raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"CONVERGENCE_FIXED_NOW must be an ISO time with a UTC offset, such as "
            f"2026-01-31T12:00:00+00:00, not {raw!r}"
        )
    return moment.astimezone(dt.UTC)


def _memory(raw: str) -> str:
    value = raw.strip() or DEFAULT_DUCKDB_MEMORY
    match = _MEMORY.match(value)
    if (
        match is None
        or float(match.group(1)) <= 0
        or (match.group(3) == "%" and float(match.group(1)) > 100)
    ):
        raise ValueError(
            f"CONVERGENCE_DUCKDB_MEMORY_LIMIT must be a size such as 4GB or 512MB, or a share "
            f"of the machine's memory such as 40%, not {raw!r}"
        )
    return value


def _threads(raw: str) -> int | None:
    if not raw.strip():
        return None
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if not 1 <= threads <= 1024:
        raise ValueError(
            f"CONVERGENCE_DUCKDB_THREADS must be a whole number of threads from 1, not {raw!r}"
        )
    return threads
