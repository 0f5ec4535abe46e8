"""Write every event's JSON Schema into ``events/schemas/`` (``python -m events.generate``)."""

from __future__ import annotations

import json
from pathlib import Path

from events.models import json_schemas

SCHEMA_DIR = Path(__file__).with_name("schemas")


def render() -> dict[str, str]:
    """File name → file text of every event schema."""
    return {
        name: json.dumps(s, indent=2, sort_keys=True) + "\n" for name, s in json_schemas().items()
    }


def main() -> None:
    """Regenerate the schema files."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        (SCHEMA_DIR / name).write_text(text)


if __name__ == "__main__":
    main()
