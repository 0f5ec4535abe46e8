import json

import jsonschema

from events import generate
from events.codec import SCHEMA_DIR
from events.models import EVENT_CLASSES


def test_committed_schemas_match_the_models():
    """Fails when a model changed without `nox -s schemas` (python -m events.generate)."""
    rendered = generate.render()
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == rendered


def test_every_event_type_has_a_valid_schema():
    for cls in EVENT_CLASSES:
        schema = json.loads((SCHEMA_DIR / f"{cls.TOPIC}.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["x-cloudevent-type"] == cls.TYPE


def test_schema_rejects_what_the_model_rejects(make_event):
    schema = json.loads((SCHEMA_DIR / "run-requested.json").read_text())
    data = make_event().model_dump(mode="json")
    jsonschema.validate(data, schema)
    data["tenant_id"] = "Acme Corp"
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert errors and "tenant_id" in str(errors[0].path)
