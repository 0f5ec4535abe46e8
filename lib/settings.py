"""Settings read once from the environment (and ``.env``); the wiring function consumes them.

| variable                             | default      | meaning                                   |
|--------------------------------------|--------------|-------------------------------------------|
| CONVERGENCE_MODE                     | local        | ``local`` (DuckDB + bus) or ``cloud``     |
| CONVERGENCE_HOME                     | .convergence | local state: DuckDB file, bus journal     |
| CONVERGENCE_CONFIG_DIR               | configs      | config-as-code root                       |
| GOOGLE_CLOUD_PROJECT                 |              | cloud project (cloud mode)                |
| CONVERGENCE_BQ_LOCATION              | EU           | BigQuery dataset location                 |
| CONVERGENCE_BQ_KMS_KEY               |              | CMEK key new BigQuery datasets default to |
| CONVERGENCE_<PROVIDER>_BASE_URL      |              | override a provider's base URL (sandbox)  |
| DISABLE_AUTH                         | false        | local mode only: skip API-key checks      |
| CONVERGENCE_BUS_BACKOFF_SCALE        | 1            | local bus: times the topology's backoff   |
| CONVERGENCE_API_BODY_TIMEOUT_SECONDS | 10           | API: a body read stalling longer → 408    |
| CONVERGENCE_SECRETS                  | see meaning  | ``secret-manager`` (cloud default) or     |
|                                      |              | ``env``: ``CONVERGENCE_SECRET_*`` values  |
|                                      |              | (Cloud Run ``--set-secrets``; always      |
|                                      |              | ``env`` in local mode)                    |
| CONVERGENCE_BIGQUERY_ENDPOINT        |              | cloud mode on an emulator: its REST       |
|                                      |              | endpoint, with anonymous credentials      |
| CONVERGENCE_BQ_RETRY_DEADLINE_SECONDS| 600          | how long one BigQuery call may be retried |
| CONVERGENCE_FIXED_NOW                |              | ISO time the clock stands still at (tests |
|                                      |              | and emulators only; refused in cloud mode |
|                                      |              | without an emulator endpoint)             |
| CONVERGENCE_BUCKETS_DIR              | HOME/buckets | local mode: folder standing in for GCS    |

Read from the same environment by the logging and tracing setup (lib/observability.py,
lib/tracing.py): ``CONVERGENCE_LOG_FORMAT`` (``json`` | ``text``; json in cloud mode),
``CONVERGENCE_LOG_LEVEL`` (INFO; the CLI defaults to WARNING), ``OTEL_TRACES_EXPORTER``,
``OTEL_EXPORTER_OTLP_ENDPOINT`` and the other standard ``OTEL_*`` variables;
``CONVERGENCE_BUILD_COMMIT`` (set in the image) is the commit runs record as their version.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Mode = Literal["local", "cloud"]
SecretsBackend = Literal["secret-manager", "env"]


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
