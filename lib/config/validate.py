"""``convergence validate``: check every config, schema and SQL file, report every problem.

Per tenant folder (its name must be a valid tenant id):

1. discovery: pipeline files are ``{pipeline}/{pipeline}.yml`` (and ``notifications.yml`` at the
   tenant's root holds its alert channels); a ``.yaml`` one, a pipeline
   id used by two folders, a pipeline file not named after its folder and any config file no
   pipeline uses are problems (nothing is silently ignored);
2. every pipeline file, and every source, rules, schema and SQL file it references;
3. statically, against the tenant's tables (:mod:`lib.config.catalog`): DQ rules' columns,
   transform SQL's tables, columns and parameters, and its output against the destination.

Every problem names its file, line (where one applies), field and a hint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from events.ids import slug_problem
from lib.config.catalog import TableEntry, build_catalog
from lib.config.documents import YAML_SUFFIXES, Document, read_document, read_text
from lib.config.dq import DqRules
from lib.config.loader import Pipeline, load_pipeline_file, pipeline_files, tenants
from lib.config.pipeline import DqStep, IngestStep, TransformStep
from lib.config.problems import load_model
from lib.config.references import (
    dq_problems,
    export_problems,
    parse_field,
    rest_problems,
)
from lib.config.sql_check import Destination, check_transform_sql
from lib.errors import ConfigError, ConfigProblem, ConvergenceError
from lib.schema import TableSpec, load_schema_file

T = TypeVar("T")
CONFIG_SUFFIXES = frozenset({".yml", ".yaml", ".json", ".sql"})


@dataclass
class _Deferred:
    """A check that needs the tenant's whole catalog."""

    pipeline: Pipeline
    index: int
    rules: tuple[DqRules, Document] | None = None
    sql: tuple[Path, str, TableSpec | None] | None = None


@dataclass
class _Validation:
    config_dir: Path
    problems: list[ConfigProblem] = field(default_factory=list)
    files: set[Path] = field(default_factory=set)
    docs: dict[str, Document] = field(default_factory=dict)
    metadata: dict[str, TableSpec] = field(default_factory=dict)

    def attempt(self, file: str, field_: str, check: Callable[[], T]) -> T | None:
        """Run ``check``; its problems (or an unexpected error) are recorded, never raised."""
        try:
            return check()
        except ConfigError as exc:
            self.problems.extend(exc.problems)
        except ConvergenceError as exc:
            self.problems.append(ConfigProblem(file, field_, str(exc)))
        except Exception as exc:  # a checker bug must still be reported, not crash validation
            message = f"internal error: {type(exc).__name__}: {exc}"
            self.problems.append(ConfigProblem(file, field_, message))
        return None

    def document(self, path: Path) -> Document:
        if str(path) not in self.docs:
            self.docs[str(path)] = read_document(path)
        self.files.add(path)
        return self.docs[str(path)]

    def metadata_schemas(self) -> None:
        for path in sorted((self.config_dir / "metadata" / "schemas").glob("*.json")):
            self.files.add(path)
            fields = self.attempt(str(path), "(file)", partial(load_schema_file, path))
            if fields is not None:
                self.metadata[path.stem] = TableSpec(fields=tuple(fields))

    def library_catalogs(self) -> None:
        """The price catalogs of ``configs/_library/prices``, used by a tenant or not."""
        from lib.config.source_checks import catalog_problems

        files, problems = catalog_problems(self.config_dir / "_library")
        self.files.update(files)
        self.problems.extend(problems)
        for path in files:
            self.attempt(str(path), "(file)", partial(self.document, path))

    def lines(self) -> list[ConfigProblem]:
        """Every problem, with the line of its field filled in where the file was parsed."""
        out: list[ConfigProblem] = []
        for problem in dict.fromkeys(self.problems):
            doc = self.docs.get(problem.file)
            if problem.line is None and doc is not None and not problem.field.startswith("("):
                problem = replace(problem, line=doc.line(parse_field(problem.field)))
            out.append(problem)
        return out


def validate_tree(config_dir: Path) -> tuple[int, list[ConfigProblem]]:
    """Validate every tenant's pipelines and the metadata schemas.

    Returns:
        The number of files checked and every problem found.
    """
    if not config_dir.is_dir():
        return 0, [ConfigProblem(str(config_dir), "(folder)", "config folder not found")]
    run = _Validation(config_dir)
    run.metadata_schemas()
    run.library_catalogs()
    for tenant in tenants(config_dir):
        _Tenant(run, tenant).validate()
    return len(run.files), run.lines()


def _suggest_slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    slug = slug if slug[:1].isalpha() else f"t_{slug}"
    return (slug + "___")[: max(3, len(slug))][:41]


class _Tenant:
    """The checks of one tenant folder."""

    def __init__(self, run: _Validation, tenant: str) -> None:
        self.run, self.tenant = run, tenant
        self.dir = run.config_dir / tenant
        self.pipelines: list[Pipeline] = []
        self.failed_folders: set[Path] = set()
        self.referenced: set[Path] = set()
        self.deferred: list[_Deferred] = []

    @property
    def problems(self) -> list[ConfigProblem]:
        return self.run.problems

    def validate(self) -> None:
        problem = slug_problem(self.tenant, "tenant folder name")
        if problem:
            self.problems.append(
                ConfigProblem(
                    str(self.dir),
                    "(folder)",
                    f"{problem}; it becomes the tenant id and the prefix of its datasets",
                    f"rename the folder, e.g. to {_suggest_slug(self.tenant)}",
                )
            )
            return
        for path in self._discover():
            self._load(path)
        for pipeline in self.pipelines:
            for index in range(len(pipeline.config.steps)):
                self._step(pipeline, index)
        catalog, conflicts = build_catalog(self.pipelines, self.run.metadata)
        self.problems.extend(conflicts)
        for deferred in self.deferred:
            self._with_catalog(deferred, catalog)
        self._notifications()
        self._unused_files()

    # --- discovery ------------------------------------------------------------------------

    def _config_files(self) -> list[Path]:
        return sorted(
            p
            for p in self.dir.rglob("*")
            if p.is_file()
            and p.suffix in CONFIG_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(self.dir).parts)
        )

    def _discover(self) -> list[Path]:
        found = pipeline_files(self.dir)
        for path in self._config_files():
            if path.suffix == ".yaml" and path.stem == path.parent.name:
                self.referenced.add(path.resolve())
                self.failed_folders.add(path.parent.resolve())
                self.problems.append(
                    ConfigProblem(
                        str(path),
                        "(file)",
                        "pipeline files end in .yml; this .yaml file is not loaded",
                        f"rename it to {path.stem}.yml",
                    )
                )
        first: dict[str, Path] = {}
        for path in found:
            if path.stem in first:
                self.problems.append(
                    ConfigProblem(
                        str(path),
                        "pipeline_id",
                        f"pipeline id {path.stem!r} is also defined by {first[path.stem]}; "
                        "a tenant's pipeline ids must be unique (runs name a pipeline by id)",
                        "rename one pipeline (its folder, file and pipeline_id) or delete it",
                    )
                )
            first.setdefault(path.stem, path)
        return found

    def _load(self, path: Path) -> None:
        self.run.files.add(path)
        self.referenced.add(path.resolve())
        self.run.attempt(str(path), "(file)", lambda: self.run.document(path))
        pipeline = self.run.attempt(
            str(path), "(file)", lambda: load_pipeline_file(path, self.tenant, self.dir)
        )
        if pipeline is None:
            self.failed_folders.add(path.parent.resolve())
        else:
            self.pipelines.append(pipeline)

    def _notifications(self) -> None:
        """The tenant's ``notifications.yml`` (lib/notify/config.py), when it has one."""
        from lib.notify.config import FILE_NAME, NotificationsConfig

        path = self.dir / FILE_NAME
        if not path.is_file():
            return
        self.referenced.add(path.resolve())
        doc = self.run.attempt(str(path), "(file)", partial(self.run.document, path))
        if doc is not None:
            self.run.attempt(
                str(path), "(file)", partial(load_model, path, NotificationsConfig, doc)
            )

    def _unused_files(self) -> None:
        unused = [p for p in self._config_files() if p.resolve() not in self.referenced]
        misnamed = [p for p in unused if _looks_like_pipeline(p)]
        self.failed_folders |= {p.parent.resolve() for p in misnamed}
        for path in unused:
            if path not in misnamed and path.parent.resolve() in self.failed_folders:
                continue
            self.run.files.add(path)
            if path in misnamed:
                self.problems.append(
                    ConfigProblem(
                        str(path),
                        "(file)",
                        f"a pipeline file must be named after its folder, "
                        f"{path.parent.name}/{path.parent.name}.yml; this one is not loaded",
                        f"rename it to {path.parent.name}.yml (and pipeline_id to match), or "
                        f"put it in a folder named {path.stem}/",
                    )
                )
            else:
                self.problems.append(
                    ConfigProblem(
                        str(path),
                        "(file)",
                        f"no pipeline of tenant {self.tenant!r} uses this file",
                        "reference it from a pipeline step, or delete it",
                    )
                )

    # --- per step -------------------------------------------------------------------------

    def _path(self, pipeline: Pipeline, relative: str, field_: str) -> Path | None:
        path = self.run.attempt(str(pipeline.file), field_, lambda: pipeline.path(relative, field_))
        if path is not None:
            self.referenced.add(path.resolve())
            self.run.files.add(path)
        return path

    def _spec(
        self, pipeline: Pipeline, step: IngestStep | TransformStep, index: int
    ) -> TableSpec | None:
        field_ = f"steps[{index}].destination"
        self._path(pipeline, step.destination.schema_file, f"{field_}.schema")
        return self.run.attempt(
            str(pipeline.file),
            field_,
            lambda: pipeline.table_spec(
                step.destination, field_, ingestion=isinstance(step, IngestStep)
            ),
        )

    def _step(self, pipeline: Pipeline, index: int) -> None:
        step = pipeline.config.steps[index]
        field_ = f"steps[{index}]"
        if isinstance(step, IngestStep):
            self._ingest(pipeline, step, index)
        elif isinstance(step, DqStep):
            path = self._path(pipeline, step.rules, f"{field_}.rules")
            if path is None:
                return
            self._rules(pipeline, index, path)
        else:
            spec = self._spec(pipeline, step, index)
            path = self._path(pipeline, step.sql, f"{field_}.sql")
            if path is None:
                return
            text = self.run.attempt(str(path), "(file)", lambda: read_text(path))
            if text is not None:
                self.deferred.append(_Deferred(pipeline, index, sql=(path, text, spec)))

    def _rules(self, pipeline: Pipeline, index: int, path: Path) -> None:
        doc = self.run.attempt(str(path), "(file)", partial(self.run.document, path))
        if doc is None:
            return
        rules = self.run.attempt(str(path), "(file)", partial(load_model, path, DqRules, doc))
        if rules is not None:
            self.deferred.append(_Deferred(pipeline, index, rules=(rules, doc)))

    def _ingest(self, pipeline: Pipeline, step: IngestStep, index: int) -> None:
        from lib.config.source import BigQueryExportSourceConfig, RestSourceConfig, load_source
        from lib.config.source_checks import source_problems

        path = self._path(pipeline, step.source, f"steps[{index}].source")
        spec = self._spec(pipeline, step, index)
        if path is None:
            return
        source = self.run.attempt(str(path), "(file)", lambda: load_source(path))
        if source is None or spec is None:
            return
        if isinstance(source, RestSourceConfig):
            doc = self.run.document(path)
            self.problems.extend(rest_problems(source, doc, spec))
        elif isinstance(source, BigQueryExportSourceConfig):
            field_ = f"steps[{index}].destination"
            file = str(pipeline.file)
            self.problems.extend(export_problems(source, step.destination, spec, file, field_))
        else:
            self.run.document(path)
            self.problems.extend(source_problems(pipeline, index, source, spec, path))

    # --- with the tenant's catalog ----------------------------------------------------------

    def _with_catalog(self, deferred: _Deferred, catalog: dict[str, TableEntry]) -> None:
        pipeline, index = deferred.pipeline, deferred.index
        step = pipeline.config.steps[index]
        if deferred.rules is not None and isinstance(step, DqStep):
            name = f"{step.table.dataset}.{step.table.table}"
            entry = catalog.get(name)
            if entry is None:
                self.problems.append(_unknown_table(pipeline, index, name, catalog))
                return
            rules, doc = deferred.rules
            if entry.spec is not None:
                self.problems.extend(dq_problems(doc, rules, entry.spec, name))
        if deferred.sql is not None and isinstance(step, TransformStep):
            path, text, spec = deferred.sql
            target = step.destination
            name = f"{target.dataset}.{target.table}"
            destination = Destination(name, spec, target.schema_file) if spec else None
            tables = {n: e.spec for n, e in catalog.items()}
            found = check_transform_sql(
                path, text, pipeline.tenant_id, tables, destination, step.parameters
            )
            self.problems.extend(found)


def _unknown_table(
    pipeline: Pipeline, index: int, name: str, catalog: dict[str, TableEntry]
) -> ConfigProblem:
    return ConfigProblem(
        str(pipeline.file),
        f"steps[{index}].table",
        f"table {name} is not written by any step of tenant {pipeline.tenant_id!r}",
        f"check one of: {', '.join(sorted(catalog))}",
    )


def _looks_like_pipeline(path: Path) -> bool:
    if path.suffix not in YAML_SUFFIXES:
        return False
    try:
        data = read_document(path).data
    except ConfigError:
        return False
    return isinstance(data, dict) and ("steps" in data or "pipeline_id" in data)
