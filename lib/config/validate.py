"""``convergence validate``: check every config, schema and SQL file, report every problem."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from lib.config.loader import Pipeline, load_pipeline_file, pipeline_files, tenants
from lib.config.pipeline import DqStep, IngestStep, TransformStep
from lib.errors import ConfigError, ConfigProblem, ConvergenceError
from lib.ids import check_slug
from lib.schema import load_schema_file


def _collect(
    problems: list[ConfigProblem], file: str, field: str, check: Callable[[], object]
) -> None:
    try:
        check()
    except ConfigError as exc:
        problems.extend(exc.problems)
    except ConvergenceError as exc:
        problems.append(ConfigProblem(file, field, str(exc)))
    except Exception as exc:  # a loader bug must still be reported, not crash validation
        problems.append(ConfigProblem(file, field, f"{type(exc).__name__}: {exc}"))


def _check_sql(pipeline: Pipeline, step: TransformStep, field: str) -> None:
    from lib.sql import qualify_for_tenant, transpile

    path = pipeline.path(step.sql, f"{field}.sql")
    try:
        transpile(qualify_for_tenant(path.read_text(), pipeline.tenant_id))
    except ConvergenceError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    "(sql)",
                    str(exc),
                    "write BigQuery Standard SQL that the embedded engine runs with BigQuery's "
                    "meaning: docs/sql.md lists its functions",
                )
            ]
        ) from exc


def _check_step(pipeline: Pipeline, index: int, problems: list[ConfigProblem]) -> None:
    step = pipeline.config.steps[index]
    field = f"steps[{index}]"
    file = str(pipeline.file)
    if isinstance(step, IngestStep):
        from lib.config.source import load_source

        _collect(
            problems,
            file,
            f"{field}.source",
            lambda: load_source(pipeline.path(step.source, f"{field}.source")),
        )
        _collect(
            problems,
            file,
            f"{field}.destination",
            lambda: pipeline.table_spec(step.destination, f"{field}.destination", ingestion=True),
        )
    elif isinstance(step, DqStep):
        from lib.config.dq import load_dq

        _collect(
            problems,
            file,
            f"{field}.rules",
            lambda: load_dq(pipeline.path(step.rules, f"{field}.rules")),
        )
    else:
        _collect(
            problems,
            file,
            f"{field}.destination",
            lambda: pipeline.table_spec(step.destination, f"{field}.destination"),
        )
        _collect(problems, file, f"{field}.sql", lambda: _check_sql(pipeline, step, field))


def validate_tree(config_dir: Path) -> tuple[int, list[ConfigProblem]]:
    """Validate every tenant's pipelines and the metadata schemas.

    Returns:
        The number of files checked and every problem found.
    """
    problems: list[ConfigProblem] = []
    if not config_dir.is_dir():
        return 0, [ConfigProblem(str(config_dir), "(folder)", "config folder not found")]
    checked = 0
    for schema in sorted((config_dir / "metadata" / "schemas").glob("*.json")):
        checked += 1
        _collect(problems, str(schema), "(file)", partial(load_schema_file, schema))
    for tenant in tenants(config_dir):
        tenant_dir = config_dir / tenant
        _collect(
            problems, str(tenant_dir), "(folder)", partial(check_slug, tenant, "tenant folder")
        )
        for path in pipeline_files(tenant_dir):
            checked += 1
            try:
                pipeline = load_pipeline_file(path, tenant, tenant_dir)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            for index in range(len(pipeline.config.steps)):
                _check_step(pipeline, index, problems)
    return checked, problems
