"""Static checks of the cost-intelligence sources: price catalogs, budgets and FOCUS files.

Each returns the problems of one ingest step's source against its destination, as
``convergence validate`` prints them; the same checks run again when the step runs.
"""

from __future__ import annotations

from pathlib import Path

from lib.config.budgets import BudgetsSourceConfig
from lib.config.documents import read_document
from lib.config.focus_files import FocusFilesSourceConfig
from lib.config.layers import Layered
from lib.config.loader import Pipeline
from lib.config.pipeline import IngestStep
from lib.config.prices import PriceCatalog, PriceCatalogSourceConfig
from lib.config.problems import did_you_mean, load_model
from lib.errors import ConfigError, ConfigProblem
from lib.schema import TableSpec

__all__ = ["catalog_problems", "source_problems"]

CostSource = PriceCatalogSourceConfig | BudgetsSourceConfig | FocusFilesSourceConfig


def source_problems(
    pipeline: Pipeline, index: int, source: CostSource, spec: TableSpec, source_file: Path
) -> list[ConfigProblem]:
    """Problems of step ``index``'s source (one of the cost-intelligence kinds)."""
    step = pipeline.config.steps[index]
    assert isinstance(step, IngestStep)
    file, field = str(pipeline.file), f"steps[{index}].destination"
    try:
        if isinstance(source, PriceCatalogSourceConfig):
            return _prices(pipeline, index, source, spec, source_file)
        if isinstance(source, BudgetsSourceConfig):
            from lib.budgets.load import check_budget_destination

            check_budget_destination(spec, step.destination.write_mode, file, field)
            return []
        from lib.providers.focus_files import check_focus_destination

        return check_focus_destination(source, spec, step.destination, file, field)
    except ConfigError as exc:
        return list(exc.problems)


def _prices(
    pipeline: Pipeline,
    index: int,
    source: PriceCatalogSourceConfig,
    spec: TableSpec,
    source_file: Path,
) -> list[ConfigProblem]:
    from lib.pricing.load import check_price_destination
    from lib.pricing.rows import price_rows

    step = pipeline.config.steps[index]
    assert isinstance(step, IngestStep)
    field = f"steps[{index}].destination"
    check_price_destination(spec, step.destination.write_mode, str(pipeline.file), field)
    path = pipeline.path(source.catalog, f"steps[{index}].source")
    catalog = load_model(path, PriceCatalog)
    layer, _ = pipeline.source_layer(index)
    problems = _unknown_models(source, catalog, layer)
    price_rows(catalog, source.contracted, file=str(source_file))
    return problems


def _unknown_models(
    source: PriceCatalogSourceConfig, catalog: PriceCatalog, layer: Layered
) -> list[ConfigProblem]:
    """A contracted rate naming a model the catalog lacks, at the file and line that wrote
    it (the source file or the step's ``source_overrides`` in the tenant's file)."""
    known = sorted(catalog.models)
    problems = []
    for i, rate in enumerate(source.contracted):
        for j, model in enumerate(rate.models):
            if model in catalog.models:
                continue
            hint = did_you_mean(model, known)
            problems.append(
                layer.problem(
                    ("contracted", i, "models", j),
                    f"model {model!r} is not in the {catalog.provider} catalog, so no rate "
                    "applies to it",
                    f"{hint}models: {', '.join(known)}",
                )
            )
    return problems


def catalog_problems(library: Path) -> tuple[list[Path], list[ConfigProblem]]:
    """Every catalog file of ``configs/_library/prices`` checked on its own.

    Returns:
        The files checked and their problems (a catalog no tenant uses is still checked).
    """
    files, problems = [], []
    for path in sorted((library / "prices").glob("*.yml")):
        try:
            data = read_document(path).data
        except ConfigError as exc:
            files.append(path)
            problems.extend(exc.problems)
            continue
        if isinstance(data, dict) and "kind" in data:
            continue  # a price source: checked where a pipeline uses it
        files.append(path)
        try:
            load_model(path, PriceCatalog)
        except ConfigError as exc:
            problems.extend(exc.problems)
    return files, problems
