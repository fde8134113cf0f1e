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
from collections.abc import Callable, Hashable, Iterable, Mapping
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
    """total = sum(parts) - sum(minus)."""

    total: Hashable
    parts: tuple[Hashable, ...]
    minus: tuple[Hashable, ...] = ()

    def members(self) -> tuple[Hashable, ...]:
        return (self.total, *self.parts, *self.minus)


def check_relations(values: Mapping[Hashable, int], relations: Iterable[Relation]) -> None:
    """Every relation must hold on the true values: a relation that does not would be a modelling error."""
    for relation in relations:
        total = values.get(relation.total, 0)
        parts = sum(values.get(part, 0) for part in relation.parts) - sum(values.get(m, 0) for m in relation.minus)
        if total != parts:
            raise ValueError(f"relation does not add up ({total} != {parts}): {relation.total} = sum of {relation.parts}")


def withhold(values: Mapping[Hashable, int], relations: list[Relation], threshold: int,
             audit: Callable[[Relation], bool] | None = None) -> dict[Hashable, str]:
    """The withheld counts, each with its rule (primary or secondary).

    With `audit` (which relations the exact audit covers), the relations it selects are then audited exactly:
    a withheld count that any combination of them determines (not only one relation at a time) takes another
    count with it, until none is determined."""
    if threshold < 1:
        raise ValueError("the disclosure threshold must be at least 1")
    withheld: dict[Hashable, str] = {key: PRIMARY for key, value in values.items() if 0 < value < threshold}
    by_member = _relations_by_member(relations)
    _subtraction_safe(values, relations, withheld, by_member)
    if audit is not None:
        audited = [r for r in relations if audit(r)]
        # each audited relation's members with their signs (total +, parts -, minus +), worked out once
        signed = [((relation.total, 1), *((p, -1) for p in relation.parts), *((m, 1) for m in relation.minus))
                  for relation in audited]
        reprs = _Reprs()
        changed: set[Hashable] | None = None  # first pass: every group
        while True:
            extra = _determined_fixes(values, audited, withheld, changed, signed, reprs)
            if not extra:
                break
            before = set(withheld)
            for key in extra:
                withheld[key] = SECONDARY
            # Every relation was safe before these were withheld: only those with one of them can need more.
            _subtraction_safe(values, relations, withheld, by_member,
                              start={index for key in extra for index in by_member.get(key, ())})
            changed = set(withheld) - before
    return withheld


def _relations_by_member(relations: list[Relation]) -> dict[Hashable, list[int]]:
    """The indexes of the relations each count is a member of."""
    by_member: dict[Hashable, list[int]] = defaultdict(list)
    for index, relation in enumerate(relations):
        for member in relation.members():
            by_member[member].append(index)
    return by_member


def _subtraction_safe(values: Mapping[Hashable, int], relations: list[Relation], withheld: dict[Hashable, str],
                      by_member: dict[Hashable, list[int]], start: set[int] | None = None) -> None:
    """Withhold more until no relation has exactly one withheld member.

    The relations are looked at in order (and again whenever a count they hold is withheld): all of them, or when
    every relation was already safe, only `start`, those holding a count withheld since. The relations left out
    would be looked at and left as they are, so the counts withheld are the same either way."""
    pending = sorted(start) if start is not None else list(range(len(relations)))  # a heap: the first one next
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


class _Reprs(dict):
    """repr of each key, worked out once (keys are ordered and ties broken by their repr)."""

    def __missing__(self, key: Hashable) -> str:
        self[key] = text = repr(key)
        return text


def _determined_fixes(values: Mapping[Hashable, int], relations: list[Relation],
                      withheld: Mapping[Hashable, str], changed: set[Hashable] | None,
                      signed: list[tuple[tuple[Hashable, int], ...]] | None = None,
                      reprs: Mapping[Hashable, str] | None = None) -> list[Hashable]:
    """Exact audit: for each withheld count that the relations determine (its unit vector lies in the row space of
    the relations restricted to the withheld counts), the smallest non-zero published count of a relation it is in.
    Works per connected group of withheld counts, on the eigenvectors of A'A (null space: eigenvalue 0).
    (`signed`: each relation's members with their signs; `reprs`: repr of each key; both as worked out here.)"""
    import numpy as np
    from threadpoolctl import threadpool_limits

    if signed is None:
        signed = [((r.total, 1), *((p, -1) for p in r.parts), *((m, 1) for m in r.minus)) for r in relations]
    if reprs is None:
        reprs = _Reprs()
    unknown = sorted(withheld, key=reprs.__getitem__)
    index = {key: i for i, key in enumerate(unknown)}
    rows: list[dict[int, int]] = []
    row_relation: list[Relation] = []
    for relation, members in zip(relations, signed):
        row: dict[int, int] = defaultdict(int)
        for member, sign in members:
            if member in index:
                row[index[member]] += sign
        row = {k: v for k, v in row.items() if v}
        if row:
            rows.append(row)
            row_relation.append(relation)
    parent = list(range(len(unknown)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in rows:
        first, *rest = row
        for other in rest:
            parent[find(other)] = find(first)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(unknown)):
        groups[find(i)].append(i)
    by_group: dict[int, list[int]] = defaultdict(list)
    for r, row in enumerate(rows):
        by_group[find(next(iter(row)))].append(r)
    fixes: dict[Hashable, None] = {}
    # One BLAS thread: the matrices are small (at most hundreds of rows), and OpenBLAS's threads, spinning while
    # they wait for a core, made this audit ten times slower on a busy two-core machine (same results, measured).
    with threadpool_limits(limits=1, user_api="blas"):
        for root, members in sorted(groups.items()):
            if changed is not None and not any(unknown[j] in changed for j in members):
                continue  # audited before and nothing in it has changed since
            position = {j: n for n, j in enumerate(members)}
            matrix = np.zeros((len(by_group[root]), len(members)))
            for n, r in enumerate(by_group[root]):
                for j, v in rows[r].items():
                    matrix[n, position[j]] = v
            eigenvalues, vectors = np.linalg.eigh(matrix.T @ matrix)
            null = vectors[:, eigenvalues < 1e-8]
            for j in members:
                if null.shape[1] and np.abs(null[position[j]]).max() > 1e-6:
                    continue
                key = unknown[j]
                candidates = [m for r in by_group[root] if j in rows[r] for m in row_relation[r].members()
                              if m not in withheld and values.get(m, 0) > 0]
                # a relation whose other members are all withheld or zero: withhold a zero as well
                candidates = candidates or [m for r in by_group[root] if j in rows[r] for m in row_relation[r].members()
                                            if m not in withheld and m in values]
                # determined through other relations of the group only: withhold from those
                candidates = candidates or [m for r in by_group[root] for m in row_relation[r].members()
                                            if m not in withheld and m in values]
                if candidates:
                    fixes[min(candidates, key=lambda m: (values[m], reprs[m]))] = None
    return list(fixes)


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
