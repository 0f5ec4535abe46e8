"""A secret httpx refuses to put in a header is a terminal error naming it, never showing it.

Against the sandbox over real HTTP: the refusal comes from h11 (``Illegal header value``,
quoting the value) or from httpx's ASCII encoding, never from a mock.
"""

from __future__ import annotations

import logging

import pytest

from lib.errors import TerminalError, TransientError
from lib.observability import quiet_header_loggers
from lib.providers import fetch_batches
from lib.sandbox import SandboxServer, sandbox_key
from tests.lib.providers.support import DAY, TENANT, schema, secrets, source

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("inside", ["\nX-Injected: 1", "\x00", "ü"], ids=["newline", "nul", "utf8"])
def test_an_illegal_header_value_is_terminal_and_never_logged(caplog, inside):
    canary = f"{sandbox_key(TENANT)}{inside}canary-7f3a9c"
    quiet_header_loggers()
    with SandboxServer() as sandbox, caplog.at_level(logging.DEBUG):
        batches = fetch_batches(
            source("openai_costs"),
            DAY,
            tenant_id=TENANT,
            secrets=secrets(canary),
            schema=schema("openai_costs"),
            base_url=sandbox.base_url,
        )
        with pytest.raises(TerminalError) as info:
            list(batches)

    error = info.value
    assert not isinstance(error, TransientError)
    assert "'openai_admin_key' of tenant 'acme'" in str(error)
    assert error.__cause__ is None and error.__suppress_context__  # no chained value
    assert "canary" not in str(error)
    assert "canary" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
