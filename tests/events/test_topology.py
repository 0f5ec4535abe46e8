import pytest

from events.codec import to_message
from events.models import BY_TOPIC, StepRef
from events.topology import PRESENT, load_topology, parse_filter


def routed(topology, event):
    attrs = to_message(event).attributes
    return sorted(s.handler for s in topology.subscriptions_for(event.TOPIC) if s.matches(attrs))


@pytest.mark.parametrize("step_type", ["ingest", "dq", "transform"])
def test_run_requested_reaches_only_the_next_steps_handler(make_event, step_type):
    event = make_event(next_step=StepRef(name="first_step", index=0, type=step_type))
    assert routed(load_topology(), event) == [step_type]


def test_every_progress_topic_routes_to_every_step_type():
    topology = load_topology()
    for topic in (
        "run-requested",
        "ingest-completed",
        "dq-passed",
        "dq-failed",
        "transform-completed",
    ):
        handlers = {s.handler for s in topology.subscriptions_for(topic)} - {"notify"}
        assert handlers == {"ingest", "dq", "transform"}, topic


def test_completed_runs_reach_no_handler(make_event):
    from events.models import RunCompleted

    event = make_event(
        RunCompleted, step_done=StepRef(name="silver", index=0, type="transform"), next_step=None
    )
    assert routed(load_topology(), event) == []


def test_subscribed_topics_have_dead_letter_topics():
    topology = load_topology()
    for sub in topology.subscriptions:
        topic = topology.topic(sub.topic)
        assert topic.dead_letter_topic and topic.dead_letter_subscription
        assert topology.source_topic_of_dead_letter(topic.dead_letter_topic) == topic


def test_every_event_class_has_a_topic():
    topology = load_topology()
    assert {t.name for t in topology.topics} == set(BY_TOPIC)
    for topic in topology.topics:
        assert BY_TOPIC[topic.name].TYPE == topic.event_type


@pytest.mark.parametrize(
    "expression",
    [
        'hasPrefix(attributes.x, "a")',
        'attributes.x != "a"',
        'attributes.x = "a" OR attributes.y = "b"',
    ],
)
def test_filters_outside_the_supported_subset_raise(expression):
    with pytest.raises(ValueError, match="unsupported subscription filter"):
        parse_filter(expression)


def test_filter_conjunction():
    assert parse_filter('attributes.a = "1" AND attributes.b = "2"') == [("a", "1"), ("b", "2")]


def test_absent_attribute_clause():
    assert parse_filter("NOT attributes:next_step_type") == [("next_step_type", None)]


def test_a_message_without_routing_attributes_reaches_the_unroutable_subscription_only():
    topology = load_topology()
    for topic in ("run-requested", "ingest-completed", "dq-passed", "dq-failed", "run-failed"):
        subs = topology.subscriptions_for(topic)
        assert [s.name for s in subs if s.matches({})] == [f"unroutable-on-{topic}"]
        routed = [s.name for s in subs if s.matches({"next_step_type": "none"})]
        assert routed == ([f"notify-on-{topic}"] if topic in ("dq-failed", "run-failed") else [])


def test_present_attribute_clause():
    assert parse_filter("attributes:next_step_type") == [("next_step_type", PRESENT)]


@pytest.mark.parametrize("next_step", [None, "transform"])
def test_notify_hears_every_dq_failure_whatever_comes_next(make_event, next_step):
    from events.models import DqFailed

    ref = StepRef(name="silver", index=2, type=next_step) if next_step else None
    event = make_event(
        DqFailed,
        step_done=StepRef(name="check_costs", index=1, type="dq"),
        next_step=ref,
        expectations=3,
        failed=["amount_not_negative"],
        on_failure="alert" if next_step else "stop",
    )
    expected = sorted(["notify", *([next_step] if next_step else [])])
    assert routed(load_topology(), event) == expected


def test_notify_hears_failed_runs_and_runs_no_step(make_event):
    from events.models import RunFailed

    event = make_event(RunFailed, next_step=None, reason="boom", error_type="DataError")
    assert routed(load_topology(), event) == ["notify"]
    assert load_topology().handler("notify").step_type is None
