import json
import re

import jsonschema
import yaml

from lib.config import generate
from tests.platform import CONFIGS


def test_editor_schemas_match_the_models():
    """Fails when a config model changed without `nox -s schemas`."""
    on_disk = {p.name: p.read_text() for p in generate.SCHEMA_DIR.glob("*.json")}
    assert on_disk == generate.render()


def test_every_yaml_file_names_its_editor_schema_and_validates_against_it():
    """Every shipped YAML config starts with ``# yaml-language-server: $schema=…`` pointing at
    a generated schema (relative to the file), and the file is valid under that schema."""
    files = sorted(CONFIGS.glob("**/*.yml"))
    assert len(files) >= 20
    kinds = set()
    for path in files:
        first = path.read_text().splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, f"{path}: first line {first!r}"
        schema_path = (path.parent / match[1]).resolve()
        assert schema_path.parent == generate.SCHEMA_DIR.resolve(), f"{path}: {match[1]}"
        assert first + "\n" == generate.schema_line(path, CONFIGS, schema_path.name)
        kinds.add(schema_path.name)
        doc = as_json(yaml.safe_load(path.read_text()))  # YAML dates as an editor sees them
        jsonschema.validate(doc, json.loads(schema_path.read_text()))
    assert kinds == {
        "pipeline.schema.json",
        "pipeline_override.schema.json",
        "source.schema.json",
        "dq.schema.json",
        "notifications.schema.json",
        "prices.schema.json",
    }


def test_the_override_schema_refuses_what_validate_refuses():
    schema = json.loads((generate.SCHEMA_DIR / "pipeline_override.schema.json").read_text())
    good = {"extends": "@library/pipelines/openai_costs", "steps": {"check_costs": {}}}
    jsonschema.validate(good, schema)
    for bad in (
        {"extends": "openai_costs"},
        {"extends": "@library/pipelines/openai_costs", "steps": [{"name": "x"}]},
        {"extends": "@library/pipelines/openai_costs", "schedulle": {}},
    ):
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad)), bad


def test_editor_schema_rejects_an_unknown_key():
    schema = json.loads((generate.SCHEMA_DIR / "pipeline.schema.json").read_text())
    doc = {"pipeline_id": "abc", "steps": [], "surprise": 1}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    assert any("surprise" in e.message for e in errors)


def test_every_price_catalog_and_source_file_validates_against_its_editor_schema():
    """Editors check what validate checks: the catalogs, price/budget/FOCUS-file sources."""
    catalogs = json.loads((generate.SCHEMA_DIR / "prices.schema.json").read_text())
    sources = json.loads((generate.SCHEMA_DIR / "source.schema.json").read_text())
    files = sorted(CONFIGS.glob("_library/prices/*.yml"))
    files += sorted(
        p for p in CONFIGS.glob("*/**/*.yml") if p.stem.endswith(("_source", "budgets"))
    )
    kinds = set()
    for path in files:
        doc = as_json(yaml.safe_load(path.read_text()))
        kinds.add(doc.get("kind", "catalog"))
        if doc.get("kind") not in ("rest", "bigquery_export"):
            jsonschema.validate(doc, sources if "kind" in doc else catalogs)
    assert {"catalog", "price_catalog", "budgets", "focus_files"} <= kinds


def as_json(value):
    """YAML dates as the ISO text an editor's JSON view shows."""
    import datetime as dt

    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value
