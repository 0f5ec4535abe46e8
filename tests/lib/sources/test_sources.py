"""The Source seam: one implementation per config kind, one signature, a request not a context.

The registry must cover every ``kind`` the source config union accepts (a new kind without an
implementation fails here), every implementation must satisfy the ``Source`` protocol, and a
source must work from an ``IngestRequest`` alone (no step context, no pipeline object).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import re
import typing
from pathlib import Path

import pytest

from events.models import RunRequested, Window
from events.topology import load_topology
from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.adapters.env_secrets import EnvSecrets
from lib.budgets.load import BUDGET_COLUMNS, BudgetsSource, budget_rows
from lib.clock import FixedClock
from lib.config.catalog import destination_spec
from lib.config.loader import Pipeline, load_pipeline
from lib.config.pipeline import IngestStep
from lib.config.source import SOURCE_KINDS, AnySource, load_source
from lib.errors import ConfigError
from lib.ports import TableRef, WriteResult
from lib.pricing.load import PriceCatalogSource
from lib.settings import Settings
from lib.sources import registry
from lib.sources.base import ConfigSite, IngestRequest, Source
from lib.sources.registry import SOURCES, source_for
from lib.sql import table_sql
from lib.steps.base import StepContext
from lib.steps.ingest import ingest_request, run_ingest
from lib.wiring import Runtime

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
NOW = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
WINDOW = Window(start=dt.date(2026, 11, 20), end=dt.date(2026, 11, 22))


def union_kinds() -> set[str]:
    """Every ``kind`` value the source config union (``AnySource``) accepts."""
    kinds: set[str] = set()
    for model in typing.get_args(AnySource):
        kinds.update(typing.get_args(model.model_fields["kind"].annotation))
    return kinds


def shipped_sources() -> dict[str, list[AnySource]]:
    """The library's source files (a top-level ``kind:``), by kind."""
    found: dict[str, list[AnySource]] = {}
    for path in sorted((CONFIGS / "_library").rglob("*.yml")):
        if re.search(r"^kind:", path.read_text(), re.MULTILINE):
            config = load_source(path)
            found.setdefault(config.kind, []).append(config)
    return found


# --- the registry ---------------------------------------------------------------------------


def test_the_union_is_what_source_files_are_loaded_by():
    assert union_kinds() == set(SOURCE_KINDS)
    assert {"rest", "bigquery_export", "focus_files", "price_catalog", "budgets"} <= union_kinds()


def test_the_registry_covers_every_kind_the_source_config_union_allows():
    assert set(SOURCES) == union_kinds()


@pytest.mark.parametrize("kind", sorted(union_kinds()))
def test_each_implementation_satisfies_the_source_protocol(kind):
    implementation = SOURCES[kind]()
    assert isinstance(implementation, type) and issubclass(implementation, Source)
    signature = inspect.signature(implementation.ingest)
    assert list(signature.parameters) == ["self", "request"]
    assert signature.parameters["request"].annotation in ("IngestRequest", IngestRequest)
    assert signature.return_annotation in ("WriteResult", WriteResult)


@pytest.mark.parametrize("kind", sorted(union_kinds()))
def test_source_for_binds_every_shipped_config_to_its_kinds_source(kind):
    configs = shipped_sources().get(kind)
    assert configs, f"configs/_library ships no {kind} source to check"
    for config in configs:
        source = source_for(config)
        assert isinstance(source, Source)
        assert type(source) is SOURCES[kind]()
        assert source.config is config


def test_an_unregistered_kind_names_the_registry_to_extend():
    @dataclasses.dataclass
    class Unknown:
        kind: str = "carrier_pigeon"

    with pytest.raises(LookupError, match=r"'carrier_pigeon'.*lib/sources/registry.py"):
        source_for(Unknown())


# --- the request ----------------------------------------------------------------------------


def test_config_site_resolves_like_the_pipeline_and_names_the_destination():
    calls: list[tuple[str, str]] = []

    def resolve(relative: str, field: str) -> Path:
        calls.append((relative, field))
        return Path("/resolved") / relative

    site = ConfigSite("acme/p.yml", "steps[2]", "source.yml", resolve)
    assert site.destination_field == "steps[2].destination"
    assert site.source_file() == Path("/resolved/source.yml")
    assert site.path("@library/prices/x.yml") == Path("/resolved/@library/prices/x.yml")
    assert calls == [
        ("source.yml", "steps[2].source"),
        ("@library/prices/x.yml", "steps[2].source"),
    ]


@pytest.fixture
def runtime(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "sources.duckdb")
    rt = Runtime(
        settings=Settings(
            home=tmp_path,
            config_dir=CONFIGS,
            base_url_overrides={"openai": "http://127.0.0.1:9"},
            buckets_dir=tmp_path / "buckets",
        ),
        warehouse=warehouse,
        bus=None,  # ingest publishes nothing
        secrets=EnvSecrets({}),
        clock=FixedClock(NOW),
        topology=load_topology(),
    )
    yield rt
    warehouse.close()


def context(rt: Runtime, pipeline_id: str, step_name: str) -> StepContext:
    pipeline = load_pipeline(CONFIGS, "acme", pipeline_id)
    [index] = [i for i, s in enumerate(pipeline.config.steps) if s.name == step_name]
    ref = pipeline.config.step_ref(index)
    event = RunRequested(
        event_id="evt-src-0001",
        occurred_at=NOW,
        tenant_id="acme",
        pipeline_id=pipeline_id,
        pipeline_logging_id="run-src-0001",
        window=WINDOW,
        next_step=ref,
    )
    return StepContext(rt, pipeline, event, ref, pipeline.config.steps[index])


def test_the_step_builds_its_request_from_the_context_and_ensures_the_table(runtime):
    ctx = context(runtime, "cost_intelligence", "load_budgets")
    request = ingest_request(ctx)
    step = ctx.step
    assert isinstance(step, IngestStep)
    assert request.table == TableRef("acme_raw_budgets", "budgets")
    assert runtime.warehouse.table_exists(request.table)
    assert (request.tenant_id, request.run_id, request.window, request.now) == (
        "acme", "run-src-0001", WINDOW, NOW,
    )  # fmt: skip
    assert request.spec == destination_spec(ctx.pipeline, ctx.ref.index)
    assert request.destination == step.destination
    assert request.warehouse is runtime.warehouse and request.secrets is runtime.secrets
    assert request.base_url_overrides == {"openai": "http://127.0.0.1:9"}
    assert request.bucket_folder("b", "p/q") == str(runtime.settings.buckets_dir / "b" / "p/q")
    assert (request.site.file, request.site.field) == (str(ctx.pipeline.file), ctx.field)
    assert request.site.source_file() == ctx.pipeline.path(step.source, f"{ctx.field}.source")


def test_run_ingest_hands_the_registered_source_its_request_and_reports_its_write(
    runtime, monkeypatch
):
    seen: list[tuple[AnySource, IngestRequest]] = []
    day = dt.date(2026, 11, 21)

    @dataclasses.dataclass
    class Recording:
        config: AnySource

        def ingest(self, request: IngestRequest) -> WriteResult:
            seen.append((self.config, request))
            return WriteResult(rows=7, replaced=2, removed=1, dates=frozenset({day}))

    monkeypatch.setitem(registry.SOURCES, "budgets", lambda: Recording)
    ctx = context(runtime, "cost_intelligence", "load_budgets")

    done = run_ingest(ctx)

    [(config, request)] = seen
    assert config == ctx.pipeline.source(ctx.ref.index)
    assert request.table == TableRef("acme_raw_budgets", "budgets")
    assert done.rows == 7 and done.tables == ["acme_raw_budgets.budgets"]
    assert done.details == {"replaced": 2, "removed": 1}
    assert done.changes == {"acme_raw_budgets.budgets": [day]}


def request_for(rt: Runtime, pipeline: Pipeline, index: int, **changes) -> IngestRequest:
    """A request built by hand: what a caller outside the steps layer would pass."""
    step = pipeline.config.steps[index]
    assert isinstance(step, IngestStep)
    table = pipeline.table_ref(step.destination.dataset, step.destination.table)
    spec = destination_spec(pipeline, index)
    rt.warehouse.ensure_dataset(table.dataset)
    rt.warehouse.ensure_table(table, spec)
    request = IngestRequest(
        tenant_id=pipeline.tenant_id,
        run_id="run-src-0002",
        window=WINDOW,
        now=NOW,
        table=table,
        spec=spec,
        destination=step.destination,
        warehouse=rt.warehouse,
        secrets=rt.secrets,
        base_url_overrides={},
        bucket_folder=rt.settings.bucket_folder,
        site=ConfigSite(str(pipeline.file), f"steps[{index}]", step.source, pipeline.path),
    )
    return dataclasses.replace(request, **changes)


def test_the_budgets_source_writes_its_rows_from_a_request_alone(runtime):
    pipeline = load_pipeline(CONFIGS, "acme", "cost_intelligence")
    config = pipeline.source(0)
    request = request_for(runtime, pipeline, 0)

    result = BudgetsSource(config).ingest(request)

    rows = runtime.warehouse.query(
        f"SELECT {', '.join(BUDGET_COLUMNS[:2])}, pipeline_logging_id, ingestion_timestamp "
        f"FROM {table_sql(request.table)} ORDER BY budget_name"
    )
    expected = sorted(budget_rows(config), key=lambda r: r["budget_name"])
    assert result.rows == len(expected) > 0
    assert [r["budget_name"] for r in rows] == [r["budget_name"] for r in expected]
    assert {r["pipeline_logging_id"] for r in rows} == {"run-src-0002"}
    assert {r["ingestion_timestamp"] for r in rows} == {NOW}


def test_a_source_names_the_pipeline_file_and_field_from_the_request_site(runtime):
    pipeline = load_pipeline(CONFIGS, "acme", "cost_intelligence")
    config = pipeline.source(0)
    request = request_for(runtime, pipeline, 0)
    target = request.destination.model_copy(update={"write_mode": "append"})

    with pytest.raises(ConfigError) as raised:
        BudgetsSource(config).ingest(dataclasses.replace(request, destination=target))

    [problem] = raised.value.problems
    assert problem.file == str(pipeline.file)
    assert problem.field == "steps[0].destination.write_mode"


def test_the_price_source_resolves_its_catalog_through_the_site(runtime):
    pipeline = load_pipeline(CONFIGS, "acme", "openai_costs")
    [index] = [i for i, s in enumerate(pipeline.config.steps) if s.name == "load_prices"]
    config = pipeline.source(index)
    asked: list[tuple[str, str]] = []

    def resolve(relative: str, field: str) -> Path:
        asked.append((relative, field))
        return pipeline.path(relative, field)

    request = request_for(runtime, pipeline, index)
    site = dataclasses.replace(request.site, resolve=resolve)

    result = PriceCatalogSource(config).ingest(dataclasses.replace(request, site=site))

    assert asked == [(config.catalog, f"steps[{index}].source")]
    assert result.rows > 0
    assert result.dates == frozenset()  # a first load restates nothing
