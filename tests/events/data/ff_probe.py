"""A functions-framework target that writes what it received (used by test_codec)."""

import json
import os

import functions_framework


@functions_framework.cloud_event
def probe(cloud_event):
    with open(os.environ["FF_PROBE_OUT"], "w") as fh:
        json.dump({"type": cloud_event["type"], "data": cloud_event.data}, fh)
