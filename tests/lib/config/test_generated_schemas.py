import json

import jsonschema
import yaml

from lib.config import generate
from tests.platform import CONFIGS


def test_editor_schemas_match_the_models():
    """Fails when a config model changed without `nox -s schemas`."""
    on_disk = {p.name: p.read_text() for p in generate.SCHEMA_DIR.glob("*.json")}
    assert on_disk == generate.render()


def test_every_pipeline_file_validates_against_the_editor_schema():
    schema = json.loads((generate.SCHEMA_DIR / "pipeline.schema.json").read_text())
    files = [p for p in CONFIGS.glob("*/**/*.yml") if p.stem == p.parent.name]
    assert files
    for path in files:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


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
