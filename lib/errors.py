"""The one error hierarchy of Convergence.

Delivery behaviour is decided by the class, never by inspecting messages::

    ConvergenceError
    ├── TransientError          raise → non-2xx → Pub/Sub retries, then dead-letters
    │   └── WarehouseUnavailable
    ├── TerminalError           record, ack, end the run with run.failed
    │   ├── ConfigError         a config file is wrong (file, field, hint)
    │   ├── DataError           a provider page or table content is wrong
    │   ├── SchemaChangeError   an incompatible change to an existing table
    │   ├── SecretNotFound      a secret is missing for a tenant
    │   ├── SqlTranslationError BigQuery SQL the embedded engine cannot run faithfully
    │   ├── WarehouseError      the warehouse rejected a request for good
    │   └── UnknownTopic        a topic not in the topology (or not created in Pub/Sub)
    ├── PoisonEvent             a message no handler can ever process: dead-lettered at once
    │   ├── MalformedEvent      an event on the wire does not match its contract
    │   ├── UnknownTenant       an event for a tenant with no configs/<tenant>/ folder
    │   └── Undeliverable       a notification its channels refuse as configured
    └── InvalidIdentifier       a tenant/pipeline/run id that may not touch SQL or paths
"""

from __future__ import annotations

from dataclasses import dataclass


class ConvergenceError(Exception):
    """Root of every error raised on purpose by Convergence."""


class TransientError(ConvergenceError):
    """A fault that may go away by itself: retry with backoff."""


class WarehouseUnavailable(TransientError):
    """The warehouse could not be reached or asked us to back off."""


class TerminalError(ConvergenceError):
    """A fault that retrying cannot fix: record it and fail the run."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one config file: ``file:line: field: message (hint: what to do)``."""

    file: str
    field: str
    message: str
    hint: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(TerminalError):
    """One or more config problems, all reported at once."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class DataError(TerminalError):
    """Data from a provider or in a table is not what its contract says."""


class SchemaChangeError(TerminalError):
    """A schema file changed in a way the existing table cannot follow."""


class SecretNotFound(TerminalError):
    """A secret the tenant's source needs is not configured."""


class SqlTranslationError(TerminalError):
    """BigQuery SQL could not be parsed or translated faithfully."""


class WarehouseError(TerminalError):
    """The warehouse rejected a request; retrying will not help."""


class UnknownTopic(TerminalError):
    """A topic or subscription that is not in the topology or does not exist in Pub/Sub."""


class PoisonEvent(ConvergenceError):
    """A delivered message that no retry can make processable.

    Handlers dead-letter it at once with this error's message as the reason, then ack.
    """


class MalformedEvent(PoisonEvent):
    """An event does not match its wire contract."""


class UnknownTenant(PoisonEvent):
    """An event names a tenant that has no folder under the config root."""


class Undeliverable(PoisonEvent):
    """A notification that no retry can deliver as configured (a channel refused it, the
    tenant's notifications file is invalid, a secret is missing): kept as a dead letter, to be
    replayed once the configuration is fixed."""


class InvalidIdentifier(ConvergenceError, ValueError):
    """An identifier failed validation before touching SQL or the filesystem."""
