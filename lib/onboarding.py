"""One-command onboarding: a new tenant from library templates, ready to run.

``convergence tenants create newco --pipelines openai_costs,gcp_billing`` (and ``POST
/tenants`` for admins) does, in order:

1. checks the tenant id (a dataset prefix: lowercase slug, not reserved) and that every
   pipeline names a library template;
2. writes one small file per pipeline, ``configs/newco/{pipeline}/{pipeline}.yml``: the
   editor-schema line and ``extends: "@library/pipelines/{pipeline}"`` — a pipeline the
   tenant already has is left as it is;
3. loads every pipeline as a run would (template merged, sources and schemas resolved), so
   nothing broken is written, and provisions the tenant's datasets (``lib/tenants.py``);
4. lists the secrets its sources read, with the Secret Manager id
   (``lib/adapters/secret_manager.py``) and the local environment variable, and the next
   commands (export for Terraform, API key, first run).

``write=False`` (the API in cloud mode, where configs come from the repository) plans the
same files and returns their text without writing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lib.adapters.env_secrets import variable_name
from lib.adapters.secret_manager import secret_id
from lib.config.documents import Document
from lib.config.generate import schema_line
from lib.config.loader import LIBRARY_FOLDER, Pipeline, load_pipeline_doc, pipeline_files
from lib.config.templates import TEMPLATE_PREFIX, template_names
from lib.errors import ConfigError, ConfigProblem
from lib.tenant_export import pipeline_secret_names
from lib.tenants import check_tenant_id, provision_datasets
from lib.wiring import Runtime

OVERRIDE_SCHEMA = "pipeline_override.schema.json"


@dataclass(frozen=True)
class PlannedFile:
    """A pipeline file of the new tenant: where, its text, whether it is new."""

    pipeline_id: str
    path: Path
    """Relative to the config root, e.g. ``newco/openai_costs/openai_costs.yml``."""
    text: str
    created: bool


@dataclass(frozen=True)
class Secret:
    """A secret the tenant's sources read and where it must be stored."""

    name: str
    secret_id: str
    """Secret Manager id (cloud)."""
    variable: str
    """Environment variable (local mode)."""


@dataclass(frozen=True)
class Onboarding:
    """What onboarding did (or, with ``written=False``, what to commit)."""

    tenant_id: str
    files: list[PlannedFile]
    written: bool
    datasets: list[str] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


def pipeline_text(path: Path, config_dir: Path, template: str) -> str:
    """The text of a new tenant pipeline file that extends ``template`` and changes nothing."""
    return (
        schema_line(config_dir / path, config_dir, OVERRIDE_SCHEMA)
        + f'extends: "{TEMPLATE_PREFIX}{template}"\n'
        + "# What differs from the template goes below (docs/configuration.md#overrides).\n"
    )


def plan_files(config_dir: Path, tenant_id: str, pipelines: list[str]) -> list[PlannedFile]:
    """The tenant's pipeline files: existing ones kept, missing ones planned.

    Raises:
        InvalidIdentifier: the tenant id is not allowed.
        ConfigError: no pipeline, a repeated one, or one that is not a library template.
    """
    check_tenant_id(tenant_id)
    known = template_names(config_dir / LIBRARY_FOLDER)
    problems = []
    if not pipelines:
        problems.append(_problem(config_dir, "no pipeline given", known))
    for name in sorted({p for p in pipelines if pipelines.count(p) > 1}):
        problems.append(_problem(config_dir, f"pipeline {name!r} is given twice", known))
    for name in dict.fromkeys(pipelines):
        if name not in known:
            problems.append(_problem(config_dir, f"no library template {name!r}", known))
    if problems:
        raise ConfigError(problems)
    tenant_dir = config_dir / tenant_id
    out = []
    for name in dict.fromkeys(pipelines):
        existing = pipeline_files(tenant_dir, name) if tenant_dir.is_dir() else []
        if existing:
            path = existing[0].relative_to(config_dir)
            out.append(PlannedFile(name, path, existing[0].read_text(), created=False))
            continue
        path = Path(tenant_id) / name / f"{name}.yml"
        out.append(PlannedFile(name, path, pipeline_text(path, config_dir, name), created=True))
    return out


def _problem(config_dir: Path, message: str, known: list[str]) -> ConfigProblem:
    listing = ", ".join(known) or "(none)"
    return ConfigProblem(
        str(config_dir / LIBRARY_FOLDER / "pipelines"),
        "pipelines",
        message,
        f"name library templates (configs/_library/pipelines/): {listing}",
    )


def load_planned(config_dir: Path, tenant_id: str, files: list[PlannedFile]) -> list[Pipeline]:
    """Load the planned files as a run would (no file needs to exist).

    Raises:
        ConfigError: every problem of every pipeline (a broken template, …).
    """
    import yaml

    from lib.config.loader import load_pipeline_file
    from lib.config.pipeline import IngestStep

    tenant_dir = config_dir / tenant_id
    loaded, problems = [], []
    for planned in files:
        path = config_dir / planned.path
        try:
            if planned.created:
                doc = Document(path, yaml.safe_load(planned.text))
                pipeline = load_pipeline_doc(doc, tenant_id, tenant_dir)
            else:
                pipeline = load_pipeline_file(path, tenant_id, tenant_dir)
            for index, step in enumerate(pipeline.config.steps):
                if isinstance(step, IngestStep):
                    pipeline.source(index)
            loaded.append(pipeline)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return loaded


def onboard_tenant(
    rt: Runtime, tenant_id: str, pipelines: list[str], *, write: bool = True
) -> Onboarding:
    """Onboard a tenant from library templates (idempotent: existing files are kept).

    Args:
        rt: the runtime (its config root and warehouse).
        tenant_id: the new tenant.
        pipelines: library template names, e.g. ``["openai_costs", "spend_reporting"]``.
        write: write the new files under the config root (False: only return them).

    Returns:
        The files, datasets, secrets and next steps.

    Raises:
        InvalidIdentifier: the tenant id is not allowed.
        ConfigError: an unknown template, or a template that does not load (nothing is
            written then).
    """
    config_dir = rt.config_dir
    files = plan_files(config_dir, tenant_id, pipelines)
    loaded = load_planned(config_dir, tenant_id, files)
    if write:
        for planned in files:
            if planned.created:
                target = config_dir / planned.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(planned.text)
    datasets = provision_datasets(rt, tenant_id, loaded)
    names = sorted(set().union(*(pipeline_secret_names(p) for p in loaded)))
    secrets = [Secret(n, secret_id(tenant_id, n), variable_name(tenant_id, n)) for n in names]
    exports = _export_datasets(loaded)
    steps = next_steps(tenant_id, [f.pipeline_id for f in files], secrets, write, exports)
    return Onboarding(tenant_id, files, write, datasets, secrets, steps)


def _export_datasets(pipelines: list[Pipeline]) -> list[str]:
    """The billing export datasets the tenant's export sources read in our project."""
    from lib.config.loader import tenant_dataset
    from lib.config.pipeline import IngestStep
    from lib.config.source import BigQueryExportSourceConfig

    out = []
    for pipeline in pipelines:
        for index, step in enumerate(pipeline.config.steps):
            source = pipeline.source(index) if isinstance(step, IngestStep) else None
            if isinstance(source, BigQueryExportSourceConfig) and source.project is None:
                out.append(tenant_dataset(pipeline.tenant_id, source.dataset))
    return sorted(set(out))


def next_steps(
    tenant_id: str,
    pipelines: list[str],
    secrets: list[Secret],
    written: bool,
    exports: Sequence[str] = (),
) -> list[str]:
    """The commands that finish onboarding, in order."""
    steps = []
    if not written:
        steps.append(f"commit the files above under configs/ (configs/{tenant_id}/…) and deploy")
    steps.append("convergence validate")
    steps.append("convergence tenants export   # terraform/tenants.json: the secrets to create")
    steps.append("convergence schedules export # terraform/schedules.json: the Scheduler jobs")
    steps.append("terraform -chdir=terraform apply")
    steps += [
        f"gcloud secrets versions add {s.secret_id} --data-file=-"
        f"   # or locally: export {s.variable}=…"
        for s in secrets
    ]
    steps += [
        f"route the tenant's Cloud Billing export into BigQuery dataset {d} (or set the "
        "source's project/dataset with source_overrides)"
        for d in exports
    ]
    steps.append(f"convergence keys create --tenant {tenant_id}")
    steps += [f"convergence run {p} --tenant {tenant_id}" for p in pipelines]
    return steps
