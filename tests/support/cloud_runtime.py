"""A cloud-mode Runtime on the emulators, built from environment variables.

Used by the handler processes of the cloud end-to-end test (``tests/integration/
cloud_handlers.py``) and by the test process itself, so both see the same adapters:

| variable                       | meaning                                               |
|--------------------------------|-------------------------------------------------------|
| CONVERGENCE_MODE=cloud         | settings as in production                             |
| GOOGLE_CLOUD_PROJECT           | the emulator project                                  |
| PUBSUB_EMULATOR_HOST           | honoured by the Pub/Sub clients themselves            |
| CONVERGENCE_BIGQUERY_ENDPOINT  | bqemulator's REST endpoint (anonymous credentials)     |
| CONVERGENCE_FIXED_NOW          | ISO time of the FixedClock (the embedded run's clock) |

Secret Manager has no emulator: secrets come from ``CONVERGENCE_SECRET_*`` variables
(``EnvSecrets``); the Secret Manager adapter is tested through its client's transport.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from events.topology import load_topology
from lib.adapters.bigquery_warehouse import BigQueryWarehouse
from lib.adapters.env_secrets import EnvSecrets
from lib.adapters.pubsub_bus import PubSubBus
from lib.clock import FixedClock
from lib.settings import Settings
from lib.wiring import Runtime
from tests.support.bigquery import LOCATION, RETRY_DEADLINE, bigquery_client


def emulator_runtime(environ: Mapping[str, str]) -> Runtime:
    """The cloud Runtime described by ``environ`` (see the module docstring)."""
    from google.cloud import pubsub_v1

    settings = Settings.from_env(environ)
    topology = load_topology()
    client = bigquery_client(environ["CONVERGENCE_BIGQUERY_ENDPOINT"], settings.project)
    warehouse = BigQueryWarehouse(
        client, project=settings.project, location=LOCATION, retry_deadline=RETRY_DEADLINE
    )
    bus = PubSubBus(
        pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient(), settings.project, topology
    )
    now = dt.datetime.fromisoformat(environ["CONVERGENCE_FIXED_NOW"])
    return Runtime(
        settings=settings,
        warehouse=warehouse,
        bus=bus,
        secrets=EnvSecrets(settings.environ),
        clock=FixedClock(now),
        topology=topology,
    )
