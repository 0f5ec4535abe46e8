"""Terraform and the code name the same things: topics, subscriptions, secrets, services.

The Terraform is evaluated offline (tests/support/terraform.py) and compared with the code's
own definitions: topology.json through `convergence bus create-topology`'s requests, secret ids
through the Secret Manager adapter's naming function, entry points and settings through the
handlers and lib/settings.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from events.topology import load_topology
from lib.settings import Settings
from tests.deploy import checks
from tests.deploy.conftest import REPO, TF_VARS
from tests.support.terraform import Terraform

CONFIGS = REPO / "configs"


def test_every_topic_exists(tf: Terraform) -> None:
    assert checks.topic_problems(tf, load_topology()) == []


def test_subscriptions_equal_what_create_topology_creates(tf: Terraform) -> None:
    assert checks.subscription_problems(tf, load_topology()) == []


def test_every_referenced_secret_exists_with_the_adapters_id_and_only_ingest_reads_it(
    tf: Terraform,
) -> None:
    assert checks.expected_secret_ids(CONFIGS)  # the demo tenants do reference secrets
    assert checks.secret_problems(tf, CONFIGS) == []


def test_the_old_hyphenated_secret_id_is_gone(tf: Terraform) -> None:
    ids = {b["secret_id"] for b in tf.instances("google_secret_manager_secret.tenant").values()}
    assert "convergence-acme-openai_admin_key" in ids
    assert "convergence-acme-openai-admin-key" not in ids


def test_every_handler_has_a_service_with_its_entry_point(tf: Terraform) -> None:
    assert checks.service_problems(tf, load_topology()) == []


DECORATOR = {"cloudevent": "cloud_event", "http": "http"}


@pytest.mark.parametrize("service", ["ingest", "dq", "transform", "notify", "api"])
def test_entry_point_is_a_function_of_the_right_type(tf: Terraform, service) -> None:
    """Read, not imported: importing handlers/api.py registers Flask handlers on the shared
    functions-framework app, which other tests have already served requests from."""
    env = checks.env_of(tf.instances(checks.SERVICES)[service])
    source = REPO / env["FUNCTION_SOURCE"]
    functions = {
        node.name: {ast.unparse(d) for d in node.decorator_list}
        for node in ast.parse(source.read_text()).body
        if isinstance(node, ast.FunctionDef)
    }
    assert env["FUNCTION_TARGET"] in functions, (source, functions)
    decorators = functions[env["FUNCTION_TARGET"]]
    # The step handlers carry no decorator (importing functions_framework loads Flask): the
    # signature type Terraform sets is what functions-framework uses. A decorator, if present,
    # must agree with it.
    signature = env["FUNCTION_SIGNATURE_TYPE"]
    framework = {d for d in decorators if d.startswith("functions_framework.")}
    assert framework <= {f"functions_framework.{DECORATOR[signature]}"}, (source, decorators)
    assert signature == ("http" if service == "api" else "cloudevent")


def test_service_env_is_what_settings_reads_in_cloud_mode(tf: Terraform) -> None:
    assert checks.env_problems(tf) == []


def test_cmek_key_reaches_datasets_topics_registry_and_the_handlers() -> None:
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    tf = Terraform(REPO / "terraform", {**TF_VARS, "kms_key_name": key})
    for body in tf.instances("google_bigquery_dataset.metadata").values():
        assert body["default_encryption_configuration"] == [{"kms_key_name": key}]
    for address in ("google_pubsub_topic.topic", "google_pubsub_topic.dead_letter"):
        assert {b["kms_key_name"] for b in tf.instances(address).values()} == {key}
    assert tf.instances("google_artifact_registry_repository.images")[None]["kms_key_name"] == key
    for service in tf.instances(checks.SERVICES).values():
        assert Settings.from_env(checks.env_of(service)).bq_kms_key_name == key
    assert set(tf.instances("google_kms_crypto_key_iam_member.cmek")) == {
        "artifactregistry",
        "bigquery",
        "pubsub",
    }
    assert "cloudkms.googleapis.com" in tf.instances("google_project_service.enabled")


def test_without_cmek_nothing_asks_for_a_key(tf: Terraform) -> None:
    assert tf.instances("google_kms_crypto_key_iam_member.cmek") == {}
    for body in tf.instances("google_bigquery_dataset.metadata").values():
        assert "default_encryption_configuration" not in body
    for service in tf.instances(checks.SERVICES).values():
        assert "CONVERGENCE_BQ_KMS_KEY" not in checks.env_of(service)


def test_sizing_comes_from_variables_and_new_handlers_get_the_default() -> None:
    sizing = {"cpu": "2", "memory": "4Gi", "concurrency": 1, "max_instances": 3}
    tf = Terraform(REPO / "terraform", {**TF_VARS, "service_sizing": {"ingest": sizing}})
    services = tf.instances(checks.SERVICES)
    ingest = services["ingest"]["template"][0]
    assert ingest["containers"][0]["resources"][0]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert ingest["scaling"][0]["max_instance_count"] == 3
    dq = services["dq"]["template"][0]  # not in the map: default_service_sizing
    assert dq["containers"][0]["resources"][0]["limits"] == {"cpu": "1", "memory": "1Gi"}


def test_api_probes_its_health_endpoints_and_handlers_keep_the_tcp_default(tf: Terraform) -> None:
    services = tf.instances(checks.SERVICES)
    assert checks.probe_paths(services["api"]) == checks.HEALTH
    for handler in ("ingest", "dq", "transform", "notify"):
        assert checks.probe_paths(services[handler]) == {}


def test_each_service_publishes_only_to_its_topics(tf: Terraform) -> None:
    """What topology.json lists, plus the dead-letter topics of the topics a handler hears
    (it dead-letters poison and undeliverable messages there itself)."""
    topology = load_topology()
    expected = {h.name: set(h.publishes) for h in topology.handlers}
    for sub in topology.subscriptions:
        expected[sub.handler].add(topology.topic(sub.topic).dead_letter_topic)
    expected["api"] = {"run-requested"}
    assert checks.publisher_grants(tf) == expected


def test_only_handlers_are_invoked_by_pubsub_and_nothing_is_public(tf: Terraform) -> None:
    invoked = tf.instances("google_cloud_run_v2_service_iam_member.push_invoker")
    assert set(invoked) == {h.name for h in load_topology().handlers}
    for address in tf.addresses():
        for body in tf.instances(address).values():
            member = str(body.get("member", ""))
            assert member not in ("allUsers", "allAuthenticatedUsers"), address


def test_service_agents_come_from_service_identities_not_hand_built_emails() -> None:
    for path in (REPO / "terraform").glob("*.tf"):
        assert "gcp-sa-" not in path.read_text(), path.name


def test_images_are_rolled_out_by_cloud_build_so_terraform_ignores_them(tf: Terraform) -> None:
    ignored = tf.resource(checks.SERVICES).meta["ignore_changes"]
    assert "template[0].containers[0].image" in ignored


# --- an empty project -------------------------------------------------------------------

API_OF = {
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    "google_bigquery_": "bigquery.googleapis.com",
    "google_cloud_run_": "run.googleapis.com",
    "google_cloud_scheduler_": "cloudscheduler.googleapis.com",
    "google_kms_": "cloudkms.googleapis.com",
    "google_logging_": "logging.googleapis.com",
    "google_monitoring_": "monitoring.googleapis.com",
    "google_project_iam_": "cloudresourcemanager.googleapis.com",
    "google_pubsub_": "pubsub.googleapis.com",
    "google_secret_manager_": "secretmanager.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_storage_": "storage.googleapis.com",
}


def test_every_api_a_resource_needs_is_enabled(tf: Terraform) -> None:
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    cmek = Terraform(REPO / "terraform", {**TF_VARS, "kms_key_name": key})
    enabled = set(cmek.instances("google_project_service.enabled"))
    for address in cmek.addresses():
        if address.startswith(("google_project_service.", "google_project_service_identity.")):
            continue
        apis = [api for prefix, api in API_OF.items() if address.startswith(prefix)]
        assert apis, f"{address}: add its API to API_OF"
        assert apis[0] in enabled, f"{address} needs {apis[0]}"


def test_every_resource_waits_for_the_apis() -> None:
    """Directly (depends_on) or through a resource it references (CMEK on: every resource)."""
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    tf = Terraform(REPO / "terraform", {**TF_VARS, "kms_key_name": key})
    enabled = "google_project_service.enabled"

    def refs(value) -> set[str]:
        if isinstance(value, dict):
            return set().union(*(refs(v) for v in value.values())) if value else set()
        if isinstance(value, list):
            return set().union(*(refs(v) for v in value)) if value else set()
        if hasattr(value, "address"):
            return {value.address}
        if isinstance(value, str) and "${" in value:
            return {a for a in tf.addresses() if a + "[" in value or a + "." in value}
        return set()

    waits: dict[str, bool] = {}

    def waits_for_apis(address: str, seen: frozenset[str] = frozenset()) -> bool:
        if address not in waits:
            resource = tf.resource(address)
            direct = enabled in resource.depends_on
            deps = refs([*resource.instances.values()]) | set(resource.depends_on)
            deps = {d for d in deps if d in tf.addresses() and d not in seen | {address}}
            waits[address] = direct or any(waits_for_apis(d, seen | {address}) for d in deps)
        return waits[address]

    for address in tf.addresses():
        if address != enabled:
            assert waits_for_apis(address), f"{address} may be created before its API is on"


def test_state_lives_in_a_gcs_backend_and_is_never_committed() -> None:
    versions = (REPO / "terraform/versions.tf").read_text()
    assert 'backend "gcs"' in versions
    ignored = (REPO / ".gitignore").read_text().split()
    assert {"*.tfstate", "*.tfstate.*", ".terraform/"} <= set(ignored)


def test_committed_tenants_json_matches_the_configs() -> None:
    from lib.tenant_export import export_tenants, render

    assert (REPO / "terraform/tenants.json").read_text() == render(export_tenants(CONFIGS)), (
        "terraform/tenants.json is stale: run `convergence tenants export`"
    )


def test_terraform_is_formatted() -> None:
    from tests.support.terraform_cli import fmt_check

    code, output = fmt_check(REPO / "terraform")
    assert code == 0, f"terraform fmt -check failed; run `terraform fmt terraform/`:\n{output}"


def _copy_tree(tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(REPO / "terraform", tmp_path / "terraform")
    (tmp_path / "events").mkdir()
    shutil.copy(REPO / "events/topology.json", tmp_path / "events/topology.json")
    return tmp_path / "terraform"


DRIFTS = [
    # (file in the copy, text, replacement, a name the failure must mention)
    (
        "events/topology.json",
        '"ingest-on-dq-passed"',
        '"ingest-on-dq-passed-v2"',
        "ingest-on-dq-passed",
    ),
    (
        "events/topology.json",
        '"entry_point": "dq"',
        '"entry_point": "dq_handler"',
        "FUNCTION_TARGET",
    ),
    (
        "events/topology.json",
        '"dead_letter_topic": "dq-failed-dead-letter"',
        '"dead_letter_topic": "dq-failed-dlq"',
        "dq-failed-dlq",
    ),
    (
        "terraform/tenants.json",
        "convergence-acme-openai_admin_key",
        "convergence-acme-openai-admin-key",
        "convergence-acme-openai-admin-key",
    ),
    (
        "terraform/pubsub.tf",
        "filter                     = each.value.filter",
        'filter = replace(each.value.filter, "next_step_type", "step_type")',
        "filter",
    ),
    ("terraform/run.tf", '"handlers/${each.key}.py"', '"src/${each.key}.py"', "FUNCTION_SOURCE"),
    (
        "terraform/locals.tf",
        "CONVERGENCE_BQ_LOCATION = var.bq_location",
        "CONVERGENCE_BQ_REGION = var.bq_location",
        "CONVERGENCE_BQ_REGION",
    ),
]


@pytest.mark.parametrize(("file", "text", "replacement", "mentioned"), DRIFTS)
def test_structural_checks_catch_a_renamed_name(tmp_path, file, text, replacement, mentioned):
    copy = _copy_tree(tmp_path)
    assert checks.all_problems(Terraform(copy, TF_VARS), load_topology(), CONFIGS) == []
    path = tmp_path / file
    assert text in path.read_text(), f"{file} no longer contains {text!r}: update DRIFTS"
    path.write_text(path.read_text().replace(text, replacement, 1))
    problems = checks.all_problems(Terraform(copy, TF_VARS), load_topology(), CONFIGS)
    assert any(mentioned in p for p in problems), problems


def test_fmt_check_fails_on_a_misformatted_file(tmp_path) -> None:
    from tests.support.terraform_cli import fmt_check

    copy = _copy_tree(tmp_path)
    path = copy / "outputs.tf"
    path.write_text(path.read_text().replace("  description = ", "  description =   ", 1))
    before = path.read_text()
    code, output = fmt_check(copy)
    assert code != 0 and "outputs.tf" in output
    assert path.read_text() == before  # a check, not a rewrite


def test_notification_secrets_exist_and_only_notify_reads_them(tmp_path) -> None:
    import shutil

    import yaml

    from lib.tenant_export import export_tenants, render

    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    path = configs / "acme" / "notifications.yml"
    doc = yaml.safe_load(path.read_text())
    for channel in doc["channels"]:
        channel["enabled"] = True
    path.write_text(yaml.safe_dump(doc))
    copy = _copy_tree(tmp_path / "tree")
    (copy / "tenants.json").write_text(render(export_tenants(configs)))
    tf = Terraform(copy, TF_VARS)

    assert checks.secret_problems(tf, configs) == []
    readers = {
        tf.target(b["secret_id"])["secret_id"]: b["member"]
        for b in tf.instances("google_secret_manager_secret_iam_member.notify_access").values()
    }
    assert readers == {
        "convergence-acme-oncall_webhook_key": checks.sa_member("notify"),
        "convergence-acme-finops_slack_webhook_url": checks.sa_member("notify"),
    }
    assert checks.secret_problems(Terraform(_copy_tree(tmp_path / "old"), TF_VARS), configs)
