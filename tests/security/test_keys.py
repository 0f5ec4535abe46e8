"""API keys: random, shown once, only a hash stored, constant-time compare, revocable."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from werkzeug.test import Client

from lib import keys as keys_module
from lib.cli import main
from lib.keys import (
    KeyNotFound,
    create_key,
    list_keys,
    parse_key,
    revoke_key,
    verify_key,
)
from lib.metadata import metadata_table
from lib.sql import table_sql
from lib.tenants import provision_tenant
from lib.wiring import Runtime
from tests.lib.api import harness


@pytest.fixture
def acme(rt: Runtime) -> Runtime:
    provision_tenant(rt, "acme")
    provision_tenant(rt, "globex")
    return rt


def _rows(rt: Runtime, tenant: str) -> list[dict[str, object]]:
    return rt.warehouse.query(f"SELECT * FROM {table_sql(metadata_table(tenant, 'api_keys'))}")


def test_key_is_random_and_only_its_hash_is_stored(acme: Runtime) -> None:
    first = create_key(acme.warehouse, acme.clock, "acme", "ci")
    second = create_key(acme.warehouse, acme.clock, "acme", "ci")
    assert first.key != second.key and first.key_id != second.key_id
    parsed = parse_key(first.key)
    assert parsed is not None
    tenant, key_id, secret = parsed
    assert (tenant, key_id) == ("acme", first.key_id) and len(secret) == 64
    rows = _rows(acme, "acme")
    assert len(rows) == 2
    row = next(r for r in rows if r["key_id"] == first.key_id)
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["status"] == "ACTIVE" and row["tenant_id"] == "acme" and row["description"] == "ci"
    stored = repr(rows)
    assert first.key not in stored and secret not in stored and secret[:16] not in stored
    assert first.key not in repr(first)  # never printed by accident


def test_verify_revoke_and_list(acme: Runtime) -> None:
    created = create_key(acme.warehouse, acme.clock, "acme", "ci")
    assert verify_key(acme.warehouse, created.key) == "acme"
    acme.clock.advance(seconds=1)  # type: ignore[attr-defined]
    revoke_key(acme.warehouse, acme.clock, "acme", created.key_id)
    assert verify_key(acme.warehouse, created.key) is None
    [info] = list_keys(acme.warehouse, "acme")
    assert (info.key_id, info.status, info.description) == (created.key_id, "REVOKED", "ci")
    assert info.updated_at > info.created_at
    assert [r["status"] for r in _rows(acme, "acme")].count("REVOKED") == 1  # insert-only


def test_revocation_wins_a_tie_on_recorded_at(acme: Runtime) -> None:
    created = create_key(acme.warehouse, acme.clock, "acme")
    revoke_key(acme.warehouse, acme.clock, "acme", created.key_id)  # same instant
    assert verify_key(acme.warehouse, created.key) is None


def test_revoking_an_unknown_or_foreign_key_fails(acme: Runtime) -> None:
    globex = create_key(acme.warehouse, acme.clock, "globex")
    with pytest.raises(KeyNotFound):
        revoke_key(acme.warehouse, acme.clock, "acme", globex.key_id)
    with pytest.raises(KeyNotFound):
        revoke_key(acme.warehouse, acme.clock, "acme", "cvg_acme_000000000000")
    assert verify_key(acme.warehouse, globex.key) == "globex"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("0" if k[-1] != "0" else "1"),  # wrong secret
        lambda k: k.replace("cvg_acme_", "cvg_globex_"),  # another tenant's table
        lambda k: k.replace("cvg_acme_", "cvg_nobody_"),  # a tenant with no tables
        lambda k: k.upper(),
        lambda k: k + "0",
        lambda k: k.rpartition("_")[0],  # key id only
        lambda k: "",
    ],
)
def test_wrong_keys_are_refused(acme: Runtime, mangle) -> None:  # type: ignore[no-untyped-def]
    created = create_key(acme.warehouse, acme.clock, "acme")
    assert verify_key(acme.warehouse, mangle(created.key)) is None
    assert not acme.warehouse.list_tables("nobody_metadata")  # nothing created by verifying


def test_hashes_are_compared_in_constant_time(
    acme: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    created = create_key(acme.warehouse, acme.clock, "acme")
    stored = _rows(acme, "acme")[0]["key_hash"]
    assert verify_key(acme.warehouse, created.key) == "acme"
    assert calls[-1][0] == stored
    wrong = created.key[:-4] + "0000"
    assert verify_key(acme.warehouse, wrong) is None
    assert len(calls) == 2  # the refusal also went through compare_digest
    unknown = "cvg_acme_ffffffffffff_" + "0" * 64
    assert verify_key(acme.warehouse, unknown) is None
    assert len(calls) == 3  # an unknown key id is compared too, against a dummy hash


def test_revoked_key_is_refused_by_the_api(acme: Runtime, client: Client) -> None:
    created = create_key(acme.warehouse, acme.clock, "acme")
    assert harness.call(client, "GET", "/pipelines/runs", created.key).status_code == 200
    revoke_key(acme.warehouse, acme.clock, "acme", created.key_id)
    assert harness.call(client, "GET", "/pipelines/runs", created.key).status_code == 401


def test_cli_shows_the_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONVERGENCE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVERGENCE_CONFIG_DIR", str(harness.make_config(tmp_path)))
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["tenants", "create", "acme"]) == 0
    assert "acme_raw_openai" in capsys.readouterr().out
    assert main(["keys", "create", "--tenant", "acme", "--description", "ci"]) == 0
    out = capsys.readouterr()
    key = next(line.split()[-1] for line in out.out.splitlines() if line.startswith("key:"))
    assert parse_key(key) is not None and "shown only once" in out.err
    key_id = key.rpartition("_")[0]
    assert main(["keys", "list", "--tenant", "acme"]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "ACTIVE" in listed and key.rpartition("_")[2] not in listed
    assert main(["keys", "revoke", key_id, "--tenant", "acme"]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--tenant", "acme"]) == 0
    assert "REVOKED" in capsys.readouterr().out
    assert main(["keys", "revoke", "cvg_acme_000000000000", "--tenant", "acme"]) == 2


class Recording:
    """A Warehouse that records which port methods a verification calls (and delegates)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def record(*args: object, **kwargs: object) -> object:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return record


def test_unknown_and_known_tenants_take_the_same_steps(
    acme: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create_key(acme.warehouse, acme.clock, "acme")
    secret = created.key.rpartition("_")[2]
    hashes: list[str] = []
    compares: list[str] = []
    real_hash, real_compare = keys_module.hash_secret, hmac.compare_digest
    monkeypatch.setattr(keys_module, "hash_secret", lambda s: hashes.append(s) or real_hash(s))
    monkeypatch.setattr(
        keys_module.hmac, "compare_digest", lambda a, b: compares.append(a) or real_compare(a, b)
    )
    presented = {
        "unknown tenant": f"cvg_nosuchtenant_{'a' * 12}_{secret}",
        "known tenant, unknown key id": f"cvg_acme_{'a' * 12}_{secret}",
        "known key, wrong secret": created.key[:-4] + "0000",
        "valid key": created.key,
    }
    steps = {}
    for case, key in presented.items():
        recording = Recording(acme.warehouse)
        hashes.clear()
        compares.clear()
        verify_key(recording, key)  # type: ignore[arg-type]
        steps[case] = (tuple(recording.calls), len(hashes), len(compares))

    assert set(steps.values()) == {(("table_exists", "query"), 1, 1)}, steps
    assert verify_key(acme.warehouse, created.key) == "acme"
    assert not acme.warehouse.list_tables("nosuchtenant_metadata")
