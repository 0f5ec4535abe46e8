"""notifications.yml: the model, its errors, and `convergence validate` checking it."""

from __future__ import annotations

import pytest
import yaml

from lib.config.validate import validate_tree
from lib.errors import ConfigError
from lib.notify.config import load_notifications
from tests.lib.notify.support import channels, write_channels
from tests.platform import REPO, copy_configs


def problems_of(configs):
    return [str(p) for p in validate_tree(configs)[1]]


def test_a_tenant_without_the_file_has_no_channels(tmp_path):
    assert load_notifications(tmp_path, "acme").channels == []


def test_channels_load_with_their_defaults(tmp_path):
    configs = copy_configs(tmp_path, "acme")
    write_channels(configs, channels("https://hooks.example.com"))
    config = load_notifications(configs, "acme")
    webhook, slack = config.channels
    assert webhook.events == ["run.failed", "dq.failed"] and slack.events == ["run.failed"]
    assert webhook.wants("dq.failed", "openai_costs") and not slack.wants("dq.failed", "x_y_z")
    assert config.secret_names() == {"oncall_webhook_key", "finops_slack_url"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"webhook": {"url": "http://hooks.example.com/x"}}, "channels[0].url", "https://"),
        ({"webhook": {"signing_secret": "whsec_Abc123!"}}, "channels[0].signing_secret", "name"),
        ({"slack": {"events": ["run.completed"]}}, "channels[1].events[0]", "run.failed"),
        ({"slack": {"type": "teams"}}, "channels[1]", "webhook"),
        ({"slack": {"name": "oncall"}}, "channels", "repeated: oncall"),
        ({"webhook": {"retry": {"max_attempts": 0}}}, "channels[0].retry.max_attempts", ""),
    ],
)
def test_mistakes_name_the_file_line_field_and_what_to_write(tmp_path, change, field, message):
    configs = copy_configs(tmp_path, "acme")
    write_channels(configs, channels("https://hooks.example.com", **change))
    with pytest.raises(ConfigError) as info:
        load_notifications(configs, "acme")
    text = str(info.value)
    assert "notifications.yml" in text and field in text and message in text
    assert any(field in p and "notifications.yml" in p for p in problems_of(configs))


def test_validate_checks_the_file_and_counts_it(tmp_path):
    configs = copy_configs(tmp_path, "acme")
    (configs / "acme" / "notifications.yml").unlink()
    checked_before, problems = validate_tree(configs)
    assert problems == []
    write_channels(configs, channels("https://hooks.example.com"))
    checked, problems = validate_tree(configs)
    assert problems == [] and checked == checked_before + 1


def test_the_committed_examples_are_valid_and_disabled():
    path = REPO / "configs" / "acme" / "notifications.yml"
    config = load_notifications(REPO / "configs", "acme")
    assert config.channels and not any(c.enabled for c in config.channels)
    assert config.secret_names() == set()
    assert yaml.safe_load(path.read_text())["channels"]
