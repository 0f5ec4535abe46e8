"""Transform step pieces: which days it derives, what SQL it reads, what parameters it binds."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from events.models import Window
from lib.config.sql_check import TRANSFORM_PARAMETERS
from lib.ports import TableRef
from lib.steps.transform import derive_days, read_tables, transform_params, used_parameters

D = dt.date(2026, 11, 10)


def days(*offsets: int) -> list[dt.date]:
    return [D + dt.timedelta(days=o) for o in offsets]


def test_the_window_alone_when_nothing_changed():
    assert derive_days(days(0, 1, 2), [], 0) == days(0, 1, 2)


def test_changed_days_of_any_age_are_added_exactly():
    assert derive_days(days(2), days(-30, -4, 2), 0) == days(-30, -4, 2)


def test_trailing_days_rederive_the_days_after_a_change_up_to_the_last_known_day():
    assert derive_days(days(2), days(-3), 2) == days(-3, -2, -1, 2)
    assert derive_days(days(0), days(-1), 14) == days(-1, 0), "nothing after the window's end"


def test_read_tables_are_the_datasets_tables_not_ctes():
    sql = (
        "WITH costs AS (SELECT * FROM `acme_raw_openai`.`costs`) "
        "SELECT * FROM costs JOIN `acme_raw_openai`.`usage_completions` USING (project_id)"
    )
    assert read_tables(sql) == (
        TableRef("acme_raw_openai", "costs"),
        TableRef("acme_raw_openai", "usage_completions"),
    )


def test_parameters_bound_are_exactly_the_ones_validate_allows():
    ctx = SimpleNamespace(
        run_id="run-00000001",
        event=SimpleNamespace(tenant_id="acme", window=Window(start=D, end=D)),
        runtime=SimpleNamespace(clock=SimpleNamespace(now=lambda: dt.datetime(2026, 11, 11))),
    )
    params = transform_params(ctx, days(-2, 0))  # type: ignore[arg-type]
    assert set(params) == set(TRANSFORM_PARAMETERS)
    assert (params["window_start"], params["window_end"], params["dates"]) == (
        days(-2)[0],
        D,
        days(-2, 0),
    )


def test_used_parameters_of_a_script():
    assert used_parameters("SELECT @a, x FROM t WHERE d IN UNNEST(@dates)") == {"a", "dates"}


def test_a_steps_own_parameters_are_bound_with_their_types():
    from decimal import Decimal

    import pytest

    from lib.config.pipeline import TransformStep
    from lib.steps.transform import step_parameters

    step = TransformStep.model_validate({
        "name": "reconcile", "type": "transform", "sql": "x.sql",
        "destination": {"dataset": "gold_reporting", "table": "t", "schema": "s.json"},
        "parameters": {
            "tolerance": {"type": "NUMERIC", "value": "0.01"},
            "provider": {"type": "STRING", "value": "aws"},
            "days": {"type": "INT64", "value": 14},
            "strict": {"type": "BOOL", "value": True},
            "since": {"type": "DATE", "value": D},
        },
    })  # fmt: skip
    assert step_parameters(step) == {
        "tolerance": Decimal("0.01"), "provider": "aws", "days": 14, "strict": True, "since": D,
    }  # fmt: skip
    for bad, message in (
        ({"type": "NUMERIC", "value": "0.0000000001"}, "more than 9 decimals"),
        ({"type": "INT64", "value": "14"}, "is not a INT64"),
        ({"type": "BOOL", "value": 1}, "is not a BOOL"),
    ):
        with pytest.raises(ValueError, match=message):
            TransformStep.model_validate({**step.model_dump(by_alias=True),
                                          "parameters": {"x": bad}})  # fmt: skip
