"""SecretManagerSecrets through the official client, with a fake gRPC channel (no network).

The client is a real ``SecretManagerServiceClient`` on its real gRPC transport; only the
channel underneath is fake. It sees the serialized request, answers with a serialized
``AccessSecretVersionResponse`` or fails with a gRPC status, so request paths, payload
decoding and the client's own error mapping are all exercised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.cloud import secretmanager
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

from lib.adapters.secret_manager import SecretManagerSecrets, secret_id
from lib.errors import InvalidIdentifier, SecretNotFound, TerminalError, TransientError
from lib.ports import Secrets

ACCESS = "/google.cloud.secretmanager.v1.SecretManagerService/AccessSecretVersion"


class FakeRpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A failed call as the gRPC runtime raises it."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def result(self, timeout: Any = None) -> Any:
        """Failed calls re-raise themselves, as gRPC's ``_InactiveRpcError`` does."""
        raise self

    def initial_metadata(self) -> Any:
        return ()

    def trailing_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> Any:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


class FakeCall:
    """The multi-callable the transport stores per method; serializes like the real one."""

    def __init__(self, channel: FakeChannel, method: str, serialize: Any, deserialize: Any):
        self.channel, self.method = channel, method
        self.serialize, self.deserialize = serialize, deserialize

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        return self.with_call(request, **kwargs)[0]

    def with_call(self, request: Any, **kwargs: Any) -> tuple[Any, Any]:
        wire = self.serialize(request)
        self.channel.requests.append((self.method, wire, kwargs.get("metadata")))
        reply = self.channel.respond(self.method, wire)
        if isinstance(reply, grpc.RpcError):
            raise reply
        return self.deserialize(reply), None


class FakeChannel(grpc.Channel):  # type: ignore[misc]
    """A ``grpc.Channel`` whose unary calls are answered by ``respond(method, bytes)``."""

    def __init__(self, respond: Callable[[str, bytes], bytes | grpc.RpcError]) -> None:
        self.respond = respond
        self.requests: list[tuple[str, bytes, Any]] = []

    def unary_unary(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
        *_: Any, **__: Any,
    ) -> FakeCall:  # fmt: skip
        return FakeCall(self, method, request_serializer, response_deserializer)

    def unary_stream(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError

    def stream_unary(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError

    def stream_stream(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError

    def subscribe(self, *a: Any, **k: Any) -> None:
        """Connectivity is not modelled."""

    def unsubscribe(self, *a: Any, **k: Any) -> None:
        """Connectivity is not modelled."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> FakeChannel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


STORE = {
    "projects/proj/secrets/convergence-acme-openai_admin_key/versions/latest": b"sk-acme",
    "projects/proj/secrets/convergence-globex-openai_admin_key/versions/latest": b"sk-globex",
}


def secret_store(method: str, wire: bytes) -> bytes | grpc.RpcError:
    request = secretmanager.AccessSecretVersionRequest.deserialize(wire)
    if method != ACCESS:
        return FakeRpcError(grpc.StatusCode.UNIMPLEMENTED, method)
    if request.name not in STORE:
        return FakeRpcError(grpc.StatusCode.NOT_FOUND, f"Secret [{request.name}] not found")
    response = secretmanager.AccessSecretVersionResponse(
        name=request.name, payload=secretmanager.SecretPayload(data=STORE[request.name])
    )
    return secretmanager.AccessSecretVersionResponse.serialize(response)


def secrets_with(respond: Callable[[str, bytes], bytes | grpc.RpcError]) -> tuple[Any, Any]:
    channel = FakeChannel(respond)
    client = secretmanager.SecretManagerServiceClient(
        transport=SecretManagerServiceGrpcTransport(channel=channel)
    )
    return SecretManagerSecrets(client, "proj", timeout=0.5), channel


def test_is_a_secrets_port():
    secrets, _ = secrets_with(secret_store)
    assert isinstance(secrets, Secrets)


def test_reads_the_latest_version_of_the_tenants_secret():
    secrets, channel = secrets_with(secret_store)
    assert secrets.get("acme", "OPENAI_ADMIN_KEY") == "sk-acme"
    assert secrets.get("globex", "openai_admin_key") == "sk-globex"
    (method, wire, metadata), _ = channel.requests
    assert method == ACCESS
    name = secretmanager.AccessSecretVersionRequest.deserialize(wire).name
    assert name == "projects/proj/secrets/convergence-acme-openai_admin_key/versions/latest"
    assert ("x-goog-request-params", f"name={name}") in metadata


def test_missing_secret_names_secret_and_tenant_never_a_value():
    secrets, _ = secrets_with(secret_store)
    with pytest.raises(SecretNotFound) as info:
        secrets.get("initech", "openai_admin_key")
    message = str(info.value)
    assert "'openai_admin_key'" in message and "'initech'" in message
    assert "convergence-initech-openai_admin_key" in message
    assert "sk-" not in message


def test_disabled_version_is_reported_as_not_found():
    disabled = FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "version is disabled")
    secrets, _ = secrets_with(lambda method, wire: disabled)
    with pytest.raises(SecretNotFound, match="no enabled version"):
        secrets.get("acme", "openai_admin_key")


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ],
)
def test_other_api_failures_are_transient(code):
    calls = []

    def failing(method: str, wire: bytes) -> grpc.RpcError:
        calls.append(method)
        return FakeRpcError(code, "nope")

    secrets, _ = secrets_with(failing)
    with pytest.raises(TransientError, match="could not serve secret 'openai_admin_key'"):
        secrets.get("acme", "openai_admin_key")
    assert calls  # the request reached the channel


def test_secret_ids_are_per_tenant_and_unambiguous():
    assert secret_id("acme", "OPENAI_ADMIN_KEY") == "convergence-acme-openai_admin_key"
    assert secret_id("acme_eu", "key") != secret_id("acme", "eu_key")
    with pytest.raises(InvalidIdentifier):
        secret_id("Acme-Corp", "key")
    with pytest.raises(InvalidIdentifier):
        secret_id("acme", "../key")


def answering(payload: bytes) -> Callable[[str, bytes], bytes]:
    def respond(method: str, wire: bytes) -> bytes:
        name = secretmanager.AccessSecretVersionRequest.deserialize(wire).name
        response = secretmanager.AccessSecretVersionResponse(
            name=name, payload=secretmanager.SecretPayload(data=payload)
        )
        return secretmanager.AccessSecretVersionResponse.serialize(response)

    return respond


def test_a_trailing_newline_is_stripped_with_one_warning_naming_the_secret(caplog):
    secrets, _ = secrets_with(answering(b"sk-canary-sm\n"))  # echo key | gcloud secrets create
    with caplog.at_level("DEBUG", logger="lib.adapters.secret_manager"):
        assert secrets.get("acme", "openai_admin_key") == "sk-canary-sm"
        assert secrets.get("acme", "openai_admin_key") == "sk-canary-sm"

    (record,) = caplog.records
    assert record.levelname == "WARNING" and "'openai_admin_key'" in record.getMessage()
    assert "sk-canary" not in record.getMessage()


def test_a_value_that_is_not_utf8_is_terminal_and_not_shown():
    secrets, _ = secrets_with(answering(b"sk-\xff\xfecanary"))
    with pytest.raises(TerminalError, match="not UTF-8") as info:
        secrets.get("acme", "openai_admin_key")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "canary" not in str(info.value)


def test_a_blank_value_is_not_found():
    secrets, _ = secrets_with(answering(b" \n"))
    with pytest.raises(SecretNotFound, match="empty"):
        secrets.get("acme", "openai_admin_key")
