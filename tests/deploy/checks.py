"""Structural checks: the evaluated Terraform against the code's own definitions.

Each check returns the list of disagreements (empty when Terraform matches), so the same
functions serve the tests on the real tree and the drift tests on a renamed copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from events.topology import Topology
from lib.adapters.pubsub_topology import hold_request, push_url, subscription_request
from lib.adapters.secret_manager import secret_id
from lib.config.loader import tenants
from lib.settings import Settings
from tests.support.terraform import Ref, Terraform

PROJECT = "p"
SERVICES = "google_cloud_run_v2_service.service"
SERVICE_ACCOUNTS = "google_service_account.service"
HEALTH = {"liveness_probe": "/healthz", "startup_probe": "/readyz"}
LOADS_DATA = ("ingest", "transform")  # spool pages to /tmp (memory on Cloud Run)


def sa_member(service: str) -> str:
    """The IAM member string of a Convergence service's account, as Terraform writes it."""
    return f'serviceAccount:${{{SERVICE_ACCOUNTS}["{service}"].email}}'


def _name_of(tf: Terraform, ref: Any) -> str | None:
    if not isinstance(ref, Ref):
        return None
    try:
        return str(tf.target(ref).get("name"))
    except KeyError:
        return None


def _seconds(duration: Any) -> str:
    return f"{duration.seconds}s"


def topic_problems(tf: Terraform, topology: Topology) -> list[str]:
    """Every topic and dead-letter topic exists, named as in topology.json."""
    problems = []
    retention = f"{topology.defaults.message_retention_seconds}s"
    expected = {
        "google_pubsub_topic.topic": {t.name for t in topology.topics},
        "google_pubsub_topic.dead_letter": {
            t.dead_letter_topic for t in topology.topics if t.dead_letter_topic
        },
    }
    for address, names in expected.items():
        found = {body["name"]: body for body in tf.instances(address).values()}
        if set(found) != names:
            problems.append(f"{address}: {sorted(found)} != topology {sorted(names)}")
        for name in names & set(found):
            if found[name].get("message_retention_duration") != retention:
                problems.append(f"topic {name}: retention is not {retention}")
    return problems


def subscription_problems(tf: Terraform, topology: Topology) -> list[str]:
    """Every subscription equals what `convergence bus create-topology` creates."""
    problems: list[str] = []
    instances = tf.instances("google_pubsub_subscription.handler")
    by_name = {body["name"]: body for body in instances.values()}
    expected = {s.name for s in topology.subscriptions}
    if set(by_name) != expected:
        problems.append(f"subscriptions {sorted(by_name)} != topology {sorted(expected)}")
    for sub in topology.subscriptions:
        body = by_name.get(sub.name)
        if body is not None:
            request = subscription_request(PROJECT, topology, sub, {sub.handler: "URL"}, "SA")
            problems += [f"subscription {sub.name}: {p}" for p in _compare(tf, request, body)]
            problems += _push_problems(tf, sub, body)
    holds = {
        b["name"]: b for b in tf.instances("google_pubsub_subscription.dead_letter_hold").values()
    }
    for topic in topology.topics:
        if not topic.dead_letter_subscription:
            continue
        body = holds.get(topic.dead_letter_subscription)
        if body is None:
            problems.append(f"hold subscription {topic.dead_letter_subscription} missing")
            continue
        request = hold_request(topology, f"projects/{PROJECT}/topics/{topic.dead_letter_topic}")
        problems += [
            f"hold {topic.dead_letter_subscription}: {p}" for p in _compare(tf, request, body)
        ]
    return problems


def _compare(tf: Terraform, request: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """Differences between a CreateSubscription request and a Terraform subscription."""
    out = []
    topic = request["topic"].rsplit("/", 1)[-1]
    if _name_of(tf, body.get("topic")) != topic:
        out.append(f"topic is {body.get('topic')}, not {topic}")
    pairs = {
        "filter": (request.get("filter", ""), body.get("filter", "")),
        "ack_deadline_seconds": (request["ack_deadline_seconds"], body.get("ack_deadline_seconds")),
        "retention": (
            _seconds(request["message_retention_duration"]),
            body.get("message_retention_duration"),
        ),
    }
    if "retry_policy" in request:
        retry = (body.get("retry_policy") or [{}])[0]
        pairs["minimum_backoff"] = (
            _seconds(request["retry_policy"]["minimum_backoff"]),
            retry.get("minimum_backoff"),
        )
        pairs["maximum_backoff"] = (
            _seconds(request["retry_policy"]["maximum_backoff"]),
            retry.get("maximum_backoff"),
        )
    if "dead_letter_policy" in request:
        policy = (body.get("dead_letter_policy") or [{}])[0]
        wanted = request["dead_letter_policy"]
        pairs["dead_letter_topic"] = (
            wanted["dead_letter_topic"].rsplit("/", 1)[-1],
            _name_of(tf, policy.get("dead_letter_topic")),
        )
        pairs["max_delivery_attempts"] = (
            wanted["max_delivery_attempts"],
            policy.get("max_delivery_attempts"),
        )
    # The code's ExpirationPolicy has no ttl (never expire); Terraform says so with ttl = "".
    never = request.get("expiration_policy") == {}
    pairs["never expires"] = (never, body.get("expiration_policy") == [{"ttl": ""}])
    out += [
        f"{k} is {tf_v!r}, code says {code_v!r}"
        for k, (code_v, tf_v) in pairs.items()
        if code_v != tf_v
    ]
    return out


def _push_problems(tf: Terraform, sub: Any, body: dict[str, Any]) -> list[str]:
    """The push URL is the one `create-topology` builds (``push_url``) from the handler's
    service URI; the OIDC audience is the URI itself; the push invoker may invoke it."""
    push = (body.get("push_config") or [{}])[0]
    endpoint = push.get("push_endpoint")
    target = f'{SERVICES}["{sub.handler}"].uri'
    expected = push_url(f"${{{target}}}", PROJECT, sub)
    if str(endpoint) != expected:
        return [f"subscription {sub.name}: pushes to {endpoint}, not {expected}"]
    oidc = (push.get("oidc_token") or [{}])[0]
    if str(oidc.get("audience")) != target:
        return [f"subscription {sub.name}: OIDC audience is not {target}"]
    invokers = tf.instances("google_cloud_run_v2_service_iam_member.push_invoker")
    if sub.handler not in invokers:
        return [f"subscription {sub.name}: the push invoker cannot invoke {sub.handler}"]
    return []


def expected_secret_ids(config_dir: Path) -> dict[str, set[str]]:
    """secret id → the services that read it: ``ingest`` for every ``auth.secret`` the tenants'
    resolved sources read (library templates with the tenant's overrides and ``secrets``
    renames applied), ``notify`` for the secrets of every enabled channel in
    ``configs/<tenant>/notifications.yml`` (read here straight from the YAML)."""
    from lib.config.loader import load_pipeline_file, pipeline_files
    from lib.config.pipeline import IngestStep

    out: dict[str, set[str]] = {}
    for tenant in tenants(config_dir):
        for path in pipeline_files(config_dir / tenant):
            pipeline = load_pipeline_file(path, tenant, config_dir / tenant)
            for index, step in enumerate(pipeline.config.steps):
                source = pipeline.source(index) if isinstance(step, IngestStep) else None
                auth = getattr(source, "auth", None)
                if auth:
                    out.setdefault(secret_id(tenant, auth.secret), set()).add("ingest")
        notifications = config_dir / tenant / "notifications.yml"
        if notifications.is_file():
            for channel in (yaml.safe_load(notifications.read_text()) or {}).get("channels", []):
                name = channel.get("signing_secret") or channel.get("url_secret")
                if channel.get("enabled", True) and name:
                    out.setdefault(secret_id(tenant, name), set()).add("notify")
    return out


def secret_problems(tf: Terraform, config_dir: Path) -> list[str]:
    """A secret per referenced (tenant, name) with the adapter's exact id, readable by exactly
    the services that use it (ingest: provider keys, notify: channel secrets)."""
    problems = []
    expected = expected_secret_ids(config_dir)
    secrets = tf.instances("google_secret_manager_secret.tenant")
    ids = {body["secret_id"]: key for key, body in secrets.items()}
    if set(ids) != set(expected):
        problems.append(
            f"Secret Manager ids {sorted(ids)} != what the configs reference {sorted(expected)}"
        )
    readers: dict[str, list[str]] = {}
    for address in tf.addresses():
        if address.startswith("google_secret_manager_secret_iam_"):
            for body in tf.instances(address).values():
                secret = tf.target(body["secret_id"])["secret_id"]
                readers.setdefault(secret, []).append(f"{body['role']} {body['member']}")
        elif address.startswith("google_project_iam_"):
            for body in tf.instances(address).values():
                if "secretmanager" in body["role"]:
                    problems.append(f"{address}: project-wide {body['role']} for {body['member']}")
    for secret in set(ids) & set(expected):
        wanted = sorted(
            f"roles/secretmanager.secretAccessor {sa_member(s)}" for s in expected[secret]
        )
        if sorted(readers.get(secret, [])) != wanted:
            problems.append(f"secret {secret}: bindings {readers.get(secret)} != {wanted}")
    return problems


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """The environment variables of a Cloud Run service instance."""
    container = service["template"][0]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env", [])}


def service_problems(tf: Terraform, topology: Topology) -> list[str]:
    """A Cloud Run service per handler (+ api) with the right entry point, env and sizing."""
    problems = []
    services = tf.instances(SERVICES)
    expected = {h.name: (h.entry_point, "cloudevent") for h in topology.handlers}
    expected["api"] = ("api", "http")
    if set(services) != set(expected):
        problems.append(f"Cloud Run services {sorted(services)} != {sorted(expected)}")
    for name, (entry_point, signature) in expected.items():
        body = services.get(name)
        if body is None:
            continue
        env = env_of(body)
        wanted = {
            "FUNCTION_TARGET": entry_point,
            "FUNCTION_SOURCE": f"handlers/{name}.py",
            "FUNCTION_SIGNATURE_TYPE": signature,
        }
        for key, value in wanted.items():
            if env.get(key) != value:
                problems.append(f"service {name}: {key} is {env.get(key)!r}, not {value!r}")
        template = body["template"][0]
        if str(template["service_account"]) != f'{SERVICE_ACCOUNTS}["{name}"].email':
            problems.append(f"service {name} does not run as its own service account")
        if template["scaling"][0]["min_instance_count"] != 0:
            problems.append(f"service {name}: min instances is not 0")
        if name in LOADS_DATA and template["max_instance_request_concurrency"] != 1:
            problems.append(f"service {name} loads data: concurrency must be 1")
        if name != "api" and template["timeout"] != f"{topology.defaults.ack_deadline_seconds}s":
            problems.append(f"service {name}: request timeout is not the ack deadline")
    return problems


FUNCTIONS_FRAMEWORK_ENV = frozenset(
    {"FUNCTION_TARGET", "FUNCTION_SOURCE", "FUNCTION_SIGNATURE_TYPE"}
)


def env_problems(tf: Terraform) -> list[str]:
    """Each service's env gives lib/settings.py a cloud configuration, and nothing it ignores."""
    problems = []
    for name, body in tf.instances(SERVICES).items():
        env = env_of(body)
        settings = Settings.from_env(env)
        if settings.mode != "cloud" or settings.disable_auth:
            problems.append(f"service {name}: not a cloud-mode configuration")
        if settings.project != tf.variables["project"]:
            problems.append(f"service {name}: GOOGLE_CLOUD_PROJECT is not var.project")
        if settings.bq_location != tf.variables["bq_location"]:
            problems.append(f"service {name}: CONVERGENCE_BQ_LOCATION is not var.bq_location")
        for key in sorted(set(env) - FUNCTIONS_FRAMEWORK_ENV):
            if not settings_read(env, key):
                problems.append(f"service {name}: sets {key}, which lib/settings.py never reads")
    return problems


def settings_read(env: dict[str, str], key: str) -> bool:
    """Whether changing ``env[key]`` changes (or is refused by) ``Settings.from_env``."""
    base = dataclasses.replace(Settings.from_env(env), environ={})
    try:
        changed = Settings.from_env({**env, key: env[key] + "x"})
    except ValueError:
        return True
    return dataclasses.replace(changed, environ={}) != base


def probe_paths(service: dict[str, Any]) -> dict[str, str]:
    """Probe kind → HTTP path of a Cloud Run service's container."""
    container = service["template"][0]["containers"][0]
    return {
        kind: container[kind][0]["http_get"][0]["path"]
        for kind in ("startup_probe", "liveness_probe")
        if container.get(kind)
    }


def publisher_grants(tf: Terraform) -> dict[str, set[str]]:
    """Service → topics its account may publish to (from every topic IAM binding)."""
    out: dict[str, set[str]] = {}
    members = {sa_member(name): name for name in tf.instances(SERVICES)}
    for address in tf.addresses():
        if not address.startswith("google_pubsub_topic_iam_"):
            continue
        for body in tf.instances(address).values():
            service = members.get(body["member"])
            if service and body["role"] == "roles/pubsub.publisher":
                out.setdefault(service, set()).add(tf.target(body["topic"])["name"])
    return out


def all_problems(tf: Terraform, topology: Topology, config_dir: Path) -> list[str]:
    """Every structural check at once."""
    checks: Iterable[list[str]] = (
        topic_problems(tf, topology),
        subscription_problems(tf, topology),
        secret_problems(tf, config_dir),
        service_problems(tf, topology),
        env_problems(tf),
    )
    return [p for problems in checks for p in problems]
