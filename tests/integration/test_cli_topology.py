"""`convergence bus create-topology` against Google's Pub/Sub emulator."""

import pytest

from events.topology import load_topology
from lib.cli import main

pytestmark = pytest.mark.integration


def test_create_topology_command_is_idempotent(pubsub_host, monkeypatch, capsys):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_host)
    topology = load_topology()
    expected = (
        len(topology.topics)
        + sum(1 for t in topology.topics if t.dead_letter_topic)  # dead-letter topics
        + sum(1 for t in topology.topics if t.dead_letter_subscription)  # hold subscriptions
        + len(topology.subscriptions)
    )
    assert main(["bus", "create-topology", "--project", "cli-topology"]) == 0
    first = capsys.readouterr().out
    assert f"{expected} created, 0 already present" in first
    assert main(["bus", "create-topology", "--project", "cli-topology"]) == 0
    assert f"0 created, {expected} already present" in capsys.readouterr().out


def test_bad_push_endpoint_is_a_clear_config_error(capsys):
    assert (
        main(["bus", "create-topology", "--project", "p", "--push-endpoint", "ingset=http://x"])
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown handler 'ingset'" in err
