"""Statistical disclosure control: which published counts are withheld, and why.

One implementation for every table, CSV, chart and narrative number of the review pack. The input is every count
the pack publishes, each under one key however many tables show it, and the additive relations between them
(a total and the parts that add up to it: the categories of a cohort dimension, the forces within all forces,
the quarters of a rolling window, the stages and reasons of withdrawal, ...). A count absent from the input is
a published zero (a row a table does not show has no decisions).

- Primary: a count from 1 to threshold - 1 is withheld; 0 is shown.
- Secondary: no withheld count may be recoverable by subtraction. Wherever a relation has exactly one withheld
  member, the smallest non-zero published member of it is withheld as well, repeated until no relation has
  exactly one withheld member. Withholding a member of one relation can leave another relation with one, so the
  rule runs over a work list until nothing changes (relations in a fixed order, ties broken by key: the same
  input always gives the same result).
- Dependent: a rate, interval or median whose inputs include a withheld count is withheld too; a median over
  fewer than threshold values is withheld (it would show one person's value).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

PRIMARY = "primary"
SECONDARY = "secondary"
DEPENDENT = "dependent"
SMALL_MEDIAN = "small_median"

RULE_TEXT = {
    PRIMARY: "a count from 1 to the threshold minus 1",
    SECONDARY: "withheld so that a withheld count cannot be worked out by subtraction from published totals",
    DEPENDENT: "a rate, interval or median that depends on a withheld count",
    SMALL_MEDIAN: "a median over fewer values than the threshold",
}


@dataclass(frozen=True)
class Relation:
    """total = sum(parts)."""

    total: Hashable
    parts: tuple[Hashable, ...]

    def members(self) -> tuple[Hashable, ...]:
        return (self.total, *self.parts)


def check_relations(values: Mapping[Hashable, int], relations: Iterable[Relation]) -> None:
    """Every relation must hold on the true values: a relation that does not would be a modelling error."""
    for relation in relations:
        total = values.get(relation.total, 0)
        parts = sum(values.get(part, 0) for part in relation.parts)
        if total != parts:
            raise ValueError(f"relation does not add up ({total} != {parts}): {relation.total} = sum of {relation.parts}")


def withhold(values: Mapping[Hashable, int], relations: list[Relation], threshold: int) -> dict[Hashable, str]:
    """The withheld counts, each with its rule (primary or secondary)."""
    if threshold < 1:
        raise ValueError("the disclosure threshold must be at least 1")
    withheld: dict[Hashable, str] = {key: PRIMARY for key, value in values.items() if 0 < value < threshold}
    by_member: dict[Hashable, list[int]] = defaultdict(list)
    for index, relation in enumerate(relations):
        for member in relation.members():
            by_member[member].append(index)
    pending = list(range(len(relations)))  # a heap of relation indexes: always the first pending one next
    queued = set(pending)
    while pending:
        index = heapq.heappop(pending)
        queued.discard(index)
        members = relations[index].members()
        hidden = [m for m in members if m in withheld]
        if len(hidden) != 1:
            continue
        candidates = [m for m in members if m not in withheld and values.get(m, 0) > 0]
        if not candidates:  # the one withheld member is then 0 too; nothing to protect
            continue
        chosen = min(candidates, key=lambda m: (values[m], repr(m)))
        withheld[chosen] = SECONDARY
        for other in by_member[chosen]:
            if other not in queued:
                queued.add(other)
                heapq.heappush(pending, other)
    return withheld


def dependent_rule(inputs: Iterable[Hashable], withheld: Mapping[Hashable, str]) -> str | None:
    """DEPENDENT when any input count is withheld, else None."""
    return DEPENDENT if any(key in withheld for key in inputs) else None


def median_rule(values_behind: int | None, inputs: Iterable[Hashable], withheld: Mapping[Hashable, str],
                threshold: int) -> str | None:
    """The rule that withholds a median, or None: over fewer than threshold values, or depending on a withheld count."""
    rule = dependent_rule(inputs, withheld)
    if rule:
        return rule
    if values_behind is not None and 0 < values_behind < threshold:
        return SMALL_MEDIAN
    return None
