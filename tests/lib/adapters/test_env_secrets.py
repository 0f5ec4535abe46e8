"""EnvSecrets: per-tenant variables, helpful misses, no values in messages."""

from __future__ import annotations

import pytest

from lib.adapters.env_secrets import EnvSecrets, variable_name
from lib.errors import InvalidIdentifier, SecretNotFound
from lib.ports import Secrets


def test_reads_the_tenant_scoped_variable():
    secrets = EnvSecrets({"CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-a"})
    assert isinstance(secrets, Secrets)
    assert secrets.get("acme", "openai_admin_key") == "sk-a"
    assert variable_name("globex", "anthropic_admin_key") == (
        "CONVERGENCE_SECRET_GLOBEX_ANTHROPIC_ADMIN_KEY"
    )


def test_a_tenant_cannot_read_another_tenants_secret():
    secrets = EnvSecrets({"CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-a"})
    with pytest.raises(SecretNotFound):
        secrets.get("globex", "openai_admin_key")


@pytest.mark.parametrize("environ", [{}, {"CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "  "}])
def test_missing_secret_names_secret_tenant_and_variable(environ):
    with pytest.raises(SecretNotFound) as info:
        EnvSecrets(environ).get("acme", "openai_admin_key")
    message = str(info.value)
    assert "'openai_admin_key'" in message
    assert "'acme'" in message
    assert "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY" in message


def test_values_never_appear_in_repr_or_errors():
    secrets = EnvSecrets({"CONVERGENCE_SECRET_ACME_OTHER_KEY": "sk-hidden"})
    assert "sk-hidden" not in repr(secrets)
    with pytest.raises(SecretNotFound) as info:
        secrets.get("acme", "openai_admin_key")
    assert "sk-hidden" not in str(info.value)


@pytest.mark.parametrize(("tenant", "name"), [("../x", "key_name"), ("acme", "KEY;rm")])
def test_unsafe_ids_are_refused(tenant, name):
    with pytest.raises(InvalidIdentifier):
        EnvSecrets({}).get(tenant, name)


def test_surrounding_whitespace_is_stripped_with_one_warning_naming_only_the_variable(caplog):
    secrets = EnvSecrets({"CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": " sk-canary-env\n"})
    with caplog.at_level("DEBUG"):
        assert secrets.get("acme", "openai_admin_key") == "sk-canary-env"
        assert secrets.get("acme", "openai_admin_key") == "sk-canary-env"

    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY" in record.getMessage()
    assert "sk-canary" not in record.getMessage() and "sk-canary" not in repr(record.args)
