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
