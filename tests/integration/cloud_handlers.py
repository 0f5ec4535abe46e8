"""functions-framework source for the cloud end-to-end test: the real handlers, on emulators.

Served as ``functions-framework --target ingest --source tests/integration/cloud_handlers.py``
(likewise ``dq`` and ``transform``). The entry points are the production ones from
``handlers/``; only the Runtime is built here, pointing at the emulators (see
``tests/support/cloud_runtime.py`` for why it is not ``lib.wiring.runtime()``).
"""

from __future__ import annotations

import os

from handlers.dq import dq
from handlers.ingest import ingest
from handlers.transform import transform
from lib.wiring import install
from tests.support.cloud_runtime import emulator_runtime

install(emulator_runtime(os.environ))

__all__ = ["dq", "ingest", "transform"]
