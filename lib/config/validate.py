"""``convergence validate``: check every config, schema and SQL file, report every problem.

The library's templates (``configs/_library/pipelines/*``) are checked on their own, together
as one catalog, so a template no tenant uses yet is checked too; then, per tenant folder (its
name must be a valid tenant id):

1. discovery: pipeline files are ``{pipeline}/{pipeline}.yml``; a ``.yaml`` one, a pipeline
   id used by two folders, a pipeline file not named after its folder and any config file no
   pipeline uses are problems (nothing is silently ignored) — except the tenant-level files
   registered in :mod:`lib.config.tenant_files` (``notifications.yml``: the tenant's alert
   channels), which get their own check;
2. every pipeline file — merged onto its template when it ``extends`` one — and every source
   (with the step's ``source_overrides``), rules, schema and SQL file it references;
3. statically, against the tenant's tables (:mod:`lib.config.catalog`): DQ rules' columns,
   transform SQL's tables, columns and parameters, and its output against the destination.

Every problem names its file (the template's or the tenant's, whichever wrote the value),
line (where one applies), field and a hint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from events.ids import slug_problem
from lib.config.catalog import TableEntry, build_catalog, destination_spec
from lib.config.derived import RulesLocator, step_rules
from lib.config.documents import YAML_SUFFIXES, Document, parse_field, read_document, read_text
from lib.config.dq import DqRules
from lib.config.loader import (
    LIBRARY_FOLDER,
    RESERVED_FOLDERS,
    Pipeline,
    load_pipeline_file,
    load_template,
    pipeline_files,
    tenants,
)
from lib.config.pipeline import DqStep, IngestStep, TransformStep
from lib.config.references import dq_problems, export_problems, rest_problems
from lib.config.schema_files import load_schema_file
from lib.config.sql_check import Destination, check_transform_sql
from lib.config.templates import TEMPLATE_FOLDER, template_names
from lib.errors import ConfigError, ConfigProblem, ConvergenceError
from lib.schema import TableSpec

T = TypeVar("T")
CONFIG_SUFFIXES = frozenset({".yml", ".yaml", ".json", ".sql"})
LIBRARY_TENANT = "library"
"""The tenant id templates are checked under (their SQL is rendered for it)."""


@dataclass
class _Deferred:
    """A check that needs the tenant's whole catalog."""

    pipeline: Pipeline
    index: int
    rules: DqRules | None = None
    sql: tuple[Path, str] | None = None


@dataclass
class _Validation:
    config_dir: Path
    problems: list[ConfigProblem] = field(default_factory=list)
    files: set[Path] = field(default_factory=set)
    docs: dict[str, Document] = field(default_factory=dict)
    metadata: dict[str, TableSpec] = field(default_factory=dict)
    library_used: set[Path] = field(default_factory=set)
    library_failed: bool = False
    """A template did not load: which library files it uses is unknown."""

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
        return list(dict.fromkeys(out))


def validate_tree(config_dir: Path) -> tuple[int, list[ConfigProblem]]:
    """Validate the library's templates, every tenant's pipelines and the metadata schemas.

    Returns:
        The number of files checked and every problem found.
    """
    if not config_dir.is_dir():
        return 0, [ConfigProblem(str(config_dir), "(folder)", "config folder not found")]
    run = _Validation(config_dir)
    run.metadata_schemas()
    run.library_catalogs()
    library = config_dir / LIBRARY_FOLDER
    if library.is_dir():
        _Library(run, library).validate()
    for tenant in tenants(config_dir):
        _Tenant(run, tenant).validate()
    _reserved_folders(run)
    if library.is_dir():
        _unused_library_files(run, library)
    return len(run.files), run.lines()


def _reserved_folders(run: _Validation) -> None:
    """A folder named like a reserved tenant id would be silently skipped: say so."""
    for name in sorted(RESERVED_FOLDERS - {"metadata"}):
        if (run.config_dir / name).is_dir():
            run.problems.append(
                ConfigProblem(
                    str(run.config_dir / name),
                    "(folder)",
                    f"{name!r} is reserved (it owns the platform's admin keys), not a tenant; "
                    "this folder is not loaded",
                    "rename the folder, e.g. to admin_team",
                )
            )


def _suggest_slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    slug = slug if slug[:1].isalpha() else f"t_{slug}"
    return (slug + "___")[: max(3, len(slug))][:41]


def config_files(folder: Path) -> list[Path]:
    """Config files (``.yml``, ``.yaml``, ``.json``, ``.sql``) under ``folder``, hidden ones
    excluded."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix in CONFIG_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


class _Tenant:
    """The checks of one tenant folder."""

    owner = "tenant"

    def __init__(self, run: _Validation, tenant: str) -> None:
        self.run, self.tenant = run, tenant
        self.dir = run.config_dir / tenant
        self.pipelines: list[Pipeline] = []
        self.failed_folders: set[Path] = set()
        self.referenced: set[Path] = set()
        self.deferred: list[_Deferred] = []
        self.locators: dict[tuple[int, int], RulesLocator] = {}

    @property
    def problems(self) -> list[ConfigProblem]:
        return self.run.problems

    @property
    def who(self) -> str:
        """The owner of the pipelines, for messages."""
        return f"tenant {self.tenant!r}"

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
        self._check_pipelines()
        self._tenant_files()
        self._unused_files()

    def _tenant_files(self) -> None:
        """Registered tenant-level files (lib/config/tenant_files.py), each with its check."""
        from lib.config.tenant_files import tenant_files

        for path, check in tenant_files(self.dir):
            self.referenced.add(path.resolve())
            self.run.files.add(path)
            self.run.attempt(str(path), "(file)", partial(check, path))

    def _check_pipelines(self) -> None:
        for pipeline in self.pipelines:
            if pipeline.template is not None:
                self.run.files.add(pipeline.template)
                self.run.library_used.add(pipeline.template.resolve())
            for index in range(len(pipeline.config.steps)):
                self._step(pipeline, index)
            self._secrets(pipeline)
        catalog, conflicts = build_catalog(self.pipelines, self.run.metadata)
        self.problems.extend(conflicts)
        for deferred in self.deferred:
            self._with_catalog(deferred, catalog)

    # --- discovery ------------------------------------------------------------------------

    def _discover(self) -> list[Path]:
        found = pipeline_files(self.dir)
        for path in config_files(self.dir):
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

    def _unused_files(self) -> None:
        report_unused(
            self.run, config_files(self.dir), self.referenced, self.failed_folders, self.who
        )

    # --- per step -------------------------------------------------------------------------

    def _path(self, pipeline: Pipeline, relative: str, field_: str) -> Path | None:
        path = self.run.attempt(str(pipeline.file), field_, lambda: pipeline.path(relative, field_))
        if path is not None:
            self.referenced.add(path.resolve())
            self.run.library_used.add(path.resolve())
            self.run.files.add(path)
        return path

    def _step(self, pipeline: Pipeline, index: int) -> None:
        step = pipeline.config.steps[index]
        field_ = f"steps[{index}]"
        if isinstance(step, IngestStep):
            self._ingest(pipeline, step, index)
        elif isinstance(step, DqStep):
            self._rules(pipeline, step, index)
        else:
            if step.destination.schema_file is not None:
                self._path(pipeline, step.destination.schema_file, f"{field_}.destination.schema")
            path = self._path(pipeline, step.sql, f"{field_}.sql")
            if path is None:
                return
            text = self.run.attempt(str(path), "(file)", lambda: read_text(path))
            if text is not None:
                self.deferred.append(_Deferred(pipeline, index, sql=(path, text)))

    def _rules(self, pipeline: Pipeline, step: DqStep, index: int) -> None:
        doc = None
        if step.rules is not None:
            path = self._path(pipeline, step.rules, f"steps[{index}].rules")
            if path is None:
                return
            doc = self.run.attempt(str(path), "(file)", partial(self.run.document, path))
            if doc is None:
                return
        rules = self.run.attempt(str(pipeline.file), "(file)", partial(step_rules, pipeline, index))
        if rules is not None:
            self.deferred.append(_Deferred(pipeline, index, rules=rules))
            self.locators[(id(pipeline), index)] = RulesLocator(pipeline, index, doc)

    def _ingest(self, pipeline: Pipeline, step: IngestStep, index: int) -> None:
        from lib.config.source import BigQueryExportSourceConfig, RestSourceConfig
        from lib.config.source_checks import source_problems

        file = str(pipeline.file)
        path = self._path(pipeline, step.source, f"steps[{index}].source")
        if step.destination.schema_file is not None:
            self._path(pipeline, step.destination.schema_file, f"steps[{index}].destination.schema")
        if path is None:
            return
        self.run.attempt(str(path), "(file)", partial(self.run.document, path))
        source = self.run.attempt(file, "(file)", partial(pipeline.source, index))
        if source is None:
            return
        spec = self.run.attempt(file, f"steps[{index}]", partial(destination_spec, pipeline, index))
        if spec is None:
            return
        if isinstance(source, RestSourceConfig):
            layer, _ = pipeline.source_layer(index)
            self.problems.extend(rest_problems(source, layer, spec))
        elif isinstance(source, BigQueryExportSourceConfig):
            field_ = f"steps[{index}].destination"
            self.problems.extend(export_problems(source, step.destination, spec, pipeline, field_))
        else:
            self.problems.extend(source_problems(pipeline, index, source, spec, path))

    def _secrets(self, pipeline: Pipeline) -> None:
        """Every ``secrets`` key must be a secret name one of the pipeline's sources uses."""
        if not pipeline.config.secrets:
            return
        used: set[str] = set()
        for index, step in enumerate(pipeline.config.steps):
            if isinstance(step, IngestStep):
                layer = self.run.attempt(
                    str(pipeline.file),
                    "(file)",
                    partial(pipeline.source_layer, index, rename=False),
                )
                auth = (
                    layer[0].data.get("auth") if layer and isinstance(layer[0].data, dict) else None
                )
                if isinstance(auth, dict) and isinstance(auth.get("secret"), str):
                    used.add(auth["secret"])
        for name in pipeline.config.secrets:
            if name not in used:
                self.problems.append(
                    pipeline.problem(
                        ("secrets", name),
                        f"no source of this pipeline uses the secret {name!r}",
                        f"its sources use: {', '.join(sorted(used)) or '(no secret)'}",
                    )
                )

    # --- with the tenant's catalog ----------------------------------------------------------

    def _with_catalog(self, deferred: _Deferred, catalog: dict[str, TableEntry]) -> None:
        pipeline, index = deferred.pipeline, deferred.index
        step = pipeline.config.steps[index]
        if deferred.rules is not None and isinstance(step, DqStep):
            name = f"{step.table.dataset}.{step.table.table}"
            entry = catalog.get(name)
            if entry is None:
                self.problems.append(self._unknown_table(pipeline, index, name, catalog))
                return
            locator = self.locators[(id(pipeline), index)]
            if entry.spec is not None:
                written = locator.from_file + locator.inline
                found = dq_problems(locator, deferred.rules, entry.spec, name, written)
                self.problems.extend(found)
        if deferred.sql is not None and isinstance(step, TransformStep):
            path, text = deferred.sql
            target = step.destination
            name = f"{target.dataset}.{target.table}"
            destination = None
            if target.schema_file is not None:
                spec = self.run.attempt(
                    str(pipeline.file),
                    f"steps[{index}]",
                    partial(destination_spec, pipeline, index),
                )
                destination = Destination(name, spec, target.schema_file) if spec else None
            tables = {n: e.spec for n, e in catalog.items()}
            found = check_transform_sql(
                path, text, self.sql_tenant(pipeline), tables, destination, step.parameters
            )
            self.problems.extend(found)

    def sql_tenant(self, pipeline: Pipeline) -> str:
        """The tenant id SQL is rendered for."""
        return pipeline.tenant_id

    def _unknown_table(
        self, pipeline: Pipeline, index: int, name: str, catalog: dict[str, TableEntry]
    ) -> ConfigProblem:
        return pipeline.problem(
            f"steps[{index}].table",
            f"table {name} is not written by any step of {self.who}",
            f"check one of: {', '.join(sorted(catalog))}",
        )


class _Library(_Tenant):
    """The library's templates, checked together (one catalog) before any tenant."""

    def __init__(self, run: _Validation, library: Path) -> None:
        super().__init__(run, LIBRARY_TENANT)
        self.dir = library

    @property
    def who(self) -> str:
        return "the library's templates"

    def validate(self) -> None:
        folder = self.dir / TEMPLATE_FOLDER
        for name in template_names(self.dir):
            path = folder / name / f"{name}.yml"
            self.run.files.add(path)
            self.run.library_used.add(path.resolve())
            self.run.attempt(str(path), "(file)", partial(self.run.document, path))
            pipeline = self.run.attempt(str(path), "(file)", partial(load_template, self.dir, name))
            if pipeline is not None:
                self.pipelines.append(pipeline)
            else:
                self.run.library_failed = True
        self._check_pipelines()


def _unused_library_files(run: _Validation, library: Path) -> None:
    """Library files no template (nor tenant) uses; a misnamed or ``.yaml`` template."""
    folder = library / TEMPLATE_FOLDER
    files = config_files(library)
    for path in files:
        if (
            path.parent.parent == folder
            and path.suffix == ".yaml"
            and path.stem == path.parent.name
        ):
            run.library_used.add(path.resolve())
            run.problems.append(
                ConfigProblem(
                    str(path),
                    "(file)",
                    "templates end in .yml; this .yaml file is not loaded",
                    f"rename it to {path.stem}.yml",
                )
            )
    if not run.library_failed:  # a file another check read is used (e.g. a catalog a source names)
        used = run.library_used | {p.resolve() for p in run.files}
        report_unused(run, files, used, set(), "the library's templates or any tenant")


def report_unused(
    run: _Validation, files: Iterable[Path], referenced: set[Path], failed: set[Path], who: str
) -> None:
    """Report config files nothing references (a misnamed pipeline file says so)."""
    unused = [p for p in files if p.resolve() not in referenced]
    misnamed = [p for p in unused if _looks_like_pipeline(p)]
    failed = failed | {p.parent.resolve() for p in misnamed}
    for path in unused:
        if path not in misnamed and path.parent.resolve() in failed:
            continue
        run.files.add(path)
        if path in misnamed:
            run.problems.append(
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
            run.problems.append(
                ConfigProblem(
                    str(path),
                    "(file)",
                    f"no pipeline of {who} uses this file",
                    "reference it from a pipeline step, or delete it",
                )
            )


def _looks_like_pipeline(path: Path) -> bool:
    if path.suffix not in YAML_SUFFIXES:
        return False
    try:
        data = read_document(path).data
    except ConfigError:
        return False
    return isinstance(data, dict) and (
        "steps" in data or "pipeline_id" in data or "extends" in data
    )
