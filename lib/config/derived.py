"""Define once: what a pipeline states once and everything else derives from it.

* **Raw table schemas** come from a REST source's ``records.columns`` (each column's
  ``type``, ``required`` → REQUIRED, ``description``) unless the destination names a schema
  file.
* **Transform output schemas** are inferred from the SQL (sqlglot type annotation against the
  tenant's tables, :mod:`lib.config.infer`) unless the destination names a schema file.
* **Merge keys imply uniqueness**: a DQ step checking a table that a step of the same pipeline
  writes with ``merge_keys`` also checks that the keys are unique in the run's rows
  (``unique_merge_keys``, critical), unless its rules already hold that expectation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from lib.config.documents import Loc, Located
from lib.config.dq import (
    DqRules,
    Expectation,
    ExpectColumnValuesToBeUnique,
    ExpectCompoundColumnsToBeUnique,
    load_dq,
)
from lib.config.layers import Origin
from lib.config.pipeline import DqStep, IngestStep, TransformStep
from lib.config.problems import validate_document
from lib.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from lib.config.loader import Pipeline

IMPLIED_NAME = "unique_merge_keys"
"""The name of the uniqueness expectation ``merge_keys`` imply (in ``dq_results``)."""
_UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


def step_rules(pipeline: Pipeline, index: int) -> DqRules:
    """A DQ step's expectations: rules file, then inline ``expectations``, then implied ones.

    Raises:
        ConfigError: the rules file is missing or invalid, an inline expectation repeats a
            name of the file's, or the step has no expectation at all.
    """
    step = pipeline.config.steps[index]
    assert isinstance(step, DqStep)
    field = f"steps[{index}]"
    listed = (
        list(load_dq(pipeline.path(step.rules, f"{field}.rules")).expectations)
        if (step.rules)
        else []
    )
    labels = {e.label for e in listed}
    problems = []
    for position, expectation in enumerate(inline_expectations(pipeline, index)):
        if expectation.label in labels:
            problems.append(
                pipeline.problem(
                    f"{field}.expectations[{position}]",
                    f"an expectation named {expectation.label!r} is already checked "
                    f"(by {step.rules or 'this step'})",
                    "give it a distinct `name:`",
                )
            )
        labels.add(expectation.label)
        listed.append(expectation)
    listed += implied_expectations(pipeline, step, listed)
    if not listed and not problems:
        problems.append(
            pipeline.problem(
                field,
                "this DQ step has no expectation",
                "give it rules: (a _dq.yml file) or expectations:, or check a table written "
                "with merge_keys",
            )
        )
    if problems:
        raise ConfigError(problems)
    return DqRules(expectations=tuple(listed))


_INLINE: TypeAdapter[list[Any]] = TypeAdapter(list[Expectation])


def inline_expectations(pipeline: Pipeline, index: int) -> list[Any]:
    """A DQ step's inline ``expectations``, validated like a rules file's (problems at the line
    of the template or tenant file that wrote them).

    Raises:
        ConfigError: an invalid expectation.
    """
    step = pipeline.config.steps[index]
    assert isinstance(step, DqStep)
    if not step.expectations:
        return []
    loc = ("steps", index, "expectations")
    located = pipeline.layer.sub(loc) if pipeline.layer is not None else None
    if located is None:
        return list(_INLINE.validate_python(step.expectations))
    found: list[Any] = validate_document(located, _INLINE, list[Expectation])
    return found


def implied_expectations(pipeline: Pipeline, step: DqStep, present: list[Any]) -> list[Any]:
    """The uniqueness expectations the checked table's ``merge_keys`` imply, unless present."""
    have = {(e.expectation_type, frozenset(e.columns)) for e in present}
    out: list[Any] = []
    if not step.check_merge_keys:
        return out
    for keys in writer_keys(pipeline, step):
        kind = _UNIQUE_TYPES[0] if len(keys) == 1 else _UNIQUE_TYPES[1]
        if (kind, frozenset(keys)) in have:
            continue
        have.add((kind, frozenset(keys)))
        name = IMPLIED_NAME if not out else f"{IMPLIED_NAME}_{len(out) + 1}"
        if len(keys) == 1:
            out.append(
                ExpectColumnValuesToBeUnique(
                    expectation_type=kind, kwargs={"column": keys[0]}, name=name
                )
            )
        else:
            out.append(
                ExpectCompoundColumnsToBeUnique(
                    expectation_type=kind, kwargs={"column_list": keys}, name=name
                )
            )
    return out


def writer_keys(pipeline: Pipeline, step: DqStep) -> list[list[str]]:
    """The ``merge_keys`` of every step of the pipeline that writes the checked table."""
    out = []
    for other in pipeline.config.steps:
        if not isinstance(other, IngestStep | TransformStep):
            continue
        target = other.destination
        same = (target.dataset, target.table) == (step.table.dataset, step.table.table)
        if same and target.merge_keys and list(target.merge_keys) not in out:
            out.append(list(target.merge_keys))
    return out


def implied_origin(pipeline: Pipeline, step: DqStep) -> Origin | None:
    """Where the merge keys that imply a step's uniqueness expectation are written."""
    for index, other in enumerate(pipeline.config.steps):
        if isinstance(other, IngestStep | TransformStep) and other.destination.merge_keys:
            target = other.destination
            if (target.dataset, target.table) == (step.table.dataset, step.table.table):
                if pipeline.layer is None:
                    return None
                return pipeline.layer.origin(("steps", index, "destination", "merge_keys"))
    return None


class RulesLocator:
    """Names the file and line of an expectation of a DQ step's combined rules.

    Expectations ``0 … n-1`` come from the rules file, the next ones from the step's inline
    ``expectations`` (the template or the tenant's file), the last ones are implied by the
    checked table's ``merge_keys``.
    """

    def __init__(self, pipeline: Pipeline, index: int, doc: Located | None) -> None:
        self.pipeline, self.index, self.doc = pipeline, index, doc
        step = pipeline.config.steps[index]
        assert isinstance(step, DqStep)
        data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
        listed = data.get("expectations")
        self.from_file = len(listed) if isinstance(listed, list) else 0
        self.inline = len(step.expectations)

    @property
    def data(self) -> Any:
        """The rules file's data (for the Located protocol)."""
        return self.doc.data if self.doc is not None else {}

    def problem(self, loc: Loc, message: str, hint: str = "") -> ConfigProblem:
        """A problem at ``("expectations", j, …)`` of the combined rules, at its origin."""
        step: Loc = ("steps", self.index)
        if len(loc) < 2 or loc[0] != "expectations" or not isinstance(loc[1], int):
            if self.doc is not None:
                return self.doc.problem(loc, message, hint)
            return self.pipeline.problem(step, message, hint)
        position = loc[1]
        if self.doc is not None and position < self.from_file:
            return self.doc.problem(loc, message, hint)
        position -= self.from_file
        if position < self.inline:
            return self.pipeline.problem((*step, "expectations", position, *loc[2:]), message, hint)
        return self.pipeline.problem(
            step, f"{message} (an expectation implied by merge_keys)", hint
        )
