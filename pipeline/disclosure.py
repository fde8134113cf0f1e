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
- Rolling windows: a withheld quarter's count takes with it the rolling four-quarter counts that contain it.
  Without that, a series of rolling counts and quarterly counts together give every quarter back (each window
  less the one before is this quarter less the one that left); with it, any pattern of withheld counts that
  protects a quarter's count within its quarter protects it in every window too.
- Audit: one exact linear audit over every relation of every quarter at once (`determined`): a withheld count
  that any combination of relations determines, not only one relation at a time, takes another count with it.
  Nothing is returned while any withheld count is determined.
- Dependent: a rate, interval or median whose inputs include a withheld count is withheld too; a median over
  fewer than threshold values is withheld (it would show one person's value).
- Kept: the counts an earlier issue withheld and whose values stand are withheld again (`kept`), and the rules
  above add only what they still need. Otherwise a later issue could show a count the earlier one withheld, and
  the two issues read together could give back a count both withheld. What they add comes first from counts that
  are not `settled` (for the pack: the counts of a quarter the earlier issue published as they are now), so that
  its packs stay as they were wherever the new counts allow: a new quarter's counts protect each other before an
  old quarter's do.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import lsmr
from threadpoolctl import threadpool_limits

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
            raise ValueError(
                f"relation does not add up ({total} != {parts}): {relation.total} = sum of {relation.parts}"
            )


def withhold(
    values: Mapping[Hashable, int],
    relations: list[Relation],
    threshold: int,
    follows: Callable[[Hashable], Iterable[Hashable]] | None = None,
    kept: Iterable[Hashable] = (),
    settled: Collection[Hashable] = frozenset(),
) -> dict[Hashable, str]:
    """The withheld counts, each with its rule (primary or secondary).

    `kept`: counts to withhold whatever else happens (those an earlier issue withheld, whose values stand): secondary
    unless primary now; a count of `kept` that is not among `values` is ignored. `settled`: counts an earlier issue
    published with the values they have now, withheld only where no other count will do (each choice below takes
    the smallest count that is not settled, failing that the smallest settled one).
    `follows(key)` names the counts a withheld count takes with it (for the pack: the rolling windows that
    contain a quarter's count). After the subtraction rule and `follows`, every relation is audited at once
    (`determined`): a withheld count that any combination of the relations determines takes another count with
    it, and the whole runs again, until no withheld count is determined."""
    if threshold < 1:
        raise ValueError("the disclosure threshold must be at least 1")
    problem = _Problem(values, relations, settled)
    matrix = RelationMatrix(relations)
    withheld: dict[Hashable, str] = {key: PRIMARY for key, value in values.items() if 0 < value < threshold}
    for key in sorted(kept, key=repr):
        if key in values and key not in withheld:
            withheld[key] = SECONDARY
    new: set[Hashable] | None = None  # withheld since the last audit (None: all of them)
    audited: set[Hashable] = set()
    for _ in range(MAX_ROUNDS):
        problem.close(withheld, follows, new)
        changed = None if new is None else set(withheld) - audited
        audited = set(withheld)
        extra = problem.fixes(withheld, determined(matrix, withheld, among=changed))
        if not extra:
            return withheld
        for key in extra:
            withheld[key] = SECONDARY
        new = set(extra)
    raise RuntimeError(f"disclosure control did not settle in {MAX_ROUNDS} rounds: nothing is published")


MAX_ROUNDS = 100


class _Problem:
    """The counts and relations, indexed once: which relations each count is in."""

    def __init__(self, values: Mapping[Hashable, int], relations: list[Relation], settled: Collection[Hashable]):
        self.values = values
        self.settled = settled
        self.members = [relation.members() for relation in relations]
        self.by_member: dict[Hashable, list[int]] = defaultdict(list)
        for index, members in enumerate(self.members):
            for member in members:
                self.by_member[member].append(index)

    def smallest(self, candidates: Iterable[Hashable]) -> Hashable:
        return min(candidates, key=lambda m: (m in self.settled, self.values[m], repr(m)))

    def close(
        self,
        withheld: dict[Hashable, str],
        follows: Callable[[Hashable], Iterable[Hashable]] | None,
        new: set[Hashable] | None,
    ) -> None:
        """Every count a withheld count takes with it, then the subtraction rule, until neither adds anything (the
        counts that follow first: they often leave the subtraction rule nothing to do). `new`: the counts withheld
        since the last call (None: every count is new)."""
        fresh = set(withheld) if new is None else set(new)
        while fresh:
            taken = (
                set()
                if follows is None
                else {
                    other for key in fresh for other in follows(key) if other in self.values and other not in withheld
                }
            )
            for key in sorted(taken, key=repr):
                withheld[key] = SECONDARY
            fresh = self.subtraction_safe(withheld, None if new is None else fresh | taken)
            new = fresh
            if follows is None:
                return

    def subtraction_safe(self, withheld: dict[Hashable, str], new: set[Hashable] | None) -> set[Hashable]:
        """Withhold more until no relation has exactly one withheld member; returns what it withheld. Only the
        relations of `new` counts can have changed (None: look at every relation)."""
        if new is None:
            pending = list(range(len(self.members)))
        else:
            pending = sorted({i for key in new for i in self.by_member[key]})
        queued = set(pending)  # a heap of relation indexes: always the first pending one next
        heapq.heapify(pending)
        added: set[Hashable] = set()
        while pending:
            index = heapq.heappop(pending)
            queued.discard(index)
            members = self.members[index]
            if sum(m in withheld for m in members) != 1:
                continue
            candidates = [m for m in members if m not in withheld and self.values.get(m, 0) > 0]
            if not candidates:  # the one withheld member is then 0 too; nothing to protect
                continue
            chosen = self.smallest(candidates)
            withheld[chosen] = SECONDARY
            added.add(chosen)
            for other in self.by_member[chosen]:
                if other not in queued:
                    queued.add(other)
                    heapq.heappush(pending, other)
        return added

    def fixes(self, withheld: Mapping[Hashable, str], found: list[Hashable]) -> list[Hashable]:
        """One more count to withhold for each group of determined counts (linked by the relations they share):
        the smallest non-zero published count of a relation of the group (failing that, a published zero of one;
        failing that, of a relation that shares a withheld count with one). One a group, then audit again: a
        single count often frees the whole group."""
        if not found:
            return []
        group_of = {key: key for key in found}

        def root(key: Hashable) -> Hashable:
            while group_of[key] != key:
                group_of[key] = group_of[group_of[key]]
                key = group_of[key]
            return key

        for key in found:
            for index in self.by_member[key]:
                for member in self.members[index]:
                    if member in group_of:
                        group_of[root(member)] = root(key)
        groups: dict[Hashable, list[Hashable]] = defaultdict(list)
        for key in found:
            groups[root(key)].append(key)
        chosen: set[Hashable] = set()
        for keys in groups.values():
            relations = {i for key in keys for i in self.by_member[key]}
            near = [m for i in relations for m in self.members[i] if m not in withheld]
            wider = [
                m
                for i in relations
                for h in self.members[i]
                if h in withheld
                for j in self.by_member[h]
                for m in self.members[j]
                if m not in withheld
            ]
            for candidates in (
                [m for m in near if self.values.get(m, 0) > 0],
                [m for m in near if m in self.values],
                [m for m in wider if m in self.values],
            ):
                if candidates:
                    chosen.add(self.smallest(candidates))
                    break
        if not chosen:
            raise RuntimeError(
                f"{len(found)} withheld counts are determined by published totals and no published "
                "count is left to withhold beside them"
            )
        return sorted(chosen, key=repr)


class RelationMatrix:
    """The relations as one sparse matrix, built once for every audit of a run: row r is relation r (total +1,
    parts -1, minus +1; a count twice in one relation adds up), one column for each count in any relation, plus
    one column of zeros for the counts in none."""

    def __init__(self, relations: Iterable[Relation]):
        relations = list(relations)
        self.column: dict[Hashable, int] = {}
        rows, cols, data = [], [], []
        for row, relation in enumerate(relations):
            for member, sign in _signed(relation):
                rows.append(row)
                cols.append(self.column.setdefault(member, len(self.column)))
                data.append(float(sign))
        self.zero = len(self.column)
        matrix = sparse.csc_matrix((data, (rows, cols)), shape=(len(relations), self.zero + 1))
        matrix.sum_duplicates()
        matrix.eliminate_zeros()  # a count that cancels out of a relation is not in it
        self.matrix = matrix

    def restricted(self, unknown: list[Hashable]) -> sparse.csr_matrix:
        """The relations over the counts `unknown` (columns in that order), without the relations none of them is
        in (the others in their order)."""
        matrix = self.matrix[:, [self.column.get(key, self.zero) for key in unknown]].tocsr()
        return matrix[np.flatnonzero(matrix.getnnz(axis=1))]


def determined(
    relations: Iterable[Relation] | RelationMatrix,
    withheld: Mapping[Hashable, str],
    among: Iterable[Hashable] | None = None,
    samples: int = 2,
) -> list[Hashable]:
    """The withheld counts that some combination of all the relations determines, over every count at once
    (`among`: only in the groups of withheld counts, linked by relations, that hold one of these). `relations`:
    a list, or the RelationMatrix of one (built once when the audit runs again and again over the same relations).

    A withheld count is determined when its unit vector lies in the row space of A, the relations restricted to
    the withheld counts (published counts are constants). Equivalently, every vector z of A's null space has z_i = 0.
    A random vector projected onto the null space (x minus its least-squares fit by A's rows, solved by LSMR on the
    sparse A) is zero exactly at the determined counts, and almost surely non-zero elsewhere; two draws with a
    fixed seed, so the same input always gives the same answer. The solve is checked: A z must vanish to 1e-10,
    or it is an error, never a silent pass. At a determined count z_i = w.(A z) for the w with A'w = e_i, so it is
    at most |w| times 1e-10; on the synthetic sample the determined counts come out below 1e-14 and the others
    above 1e-6, and 1e-9 divides them. A count wrongly taken as determined costs one more withheld count."""
    prepared = relations if isinstance(relations, RelationMatrix) else RelationMatrix(relations)
    unknown = sorted(withheld, key=repr)
    if not unknown:
        return []
    index = {key: i for i, key in enumerate(unknown)}
    matrix = prepared.restricted(unknown)
    if not matrix.shape[0]:
        return []
    if among is not None:
        _, group = connected_components(abs(matrix.T) @ abs(matrix), directed=False)
        wanted = {group[index[key]] for key in among if key in index}
        keep = np.flatnonzero(np.isin(group, list(wanted)))
        if not len(keep):
            return []
        unknown = [unknown[i] for i in keep]
        matrix = matrix[:, keep]
        matrix = matrix[np.flatnonzero(matrix.getnnz(axis=1))]
    transposed = matrix.T.tocsr()
    rng = np.random.default_rng(20240401)
    largest = np.zeros(len(unknown))
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(samples):
            x = rng.standard_normal(len(unknown))
            y = lsmr(transposed, x, atol=1e-15, btol=1e-15, maxiter=50 * len(unknown))[0]
            z = x - transposed @ y
            if np.abs(matrix @ z).max() > 1e-10:
                raise RuntimeError("the disclosure audit's least-squares solve did not converge")
            largest = np.maximum(largest, np.abs(z))
    return [unknown[i] for i in np.flatnonzero(largest < 1e-9)]


def _signed(relation: Relation) -> Iterable[tuple[Hashable, int]]:
    """The members of `total - sum(parts) + sum(minus) = 0`, each with its sign."""
    yield relation.total, 1
    for part in relation.parts:
        yield part, -1
    for member in relation.minus:
        yield member, 1


def dependent_rule(inputs: Iterable[Hashable], withheld: Mapping[Hashable, str]) -> str | None:
    """DEPENDENT when any input count is withheld, else None."""
    return DEPENDENT if any(key in withheld for key in inputs) else None


def median_rule(
    values_behind: int | None, inputs: Iterable[Hashable], withheld: Mapping[Hashable, str], threshold: int
) -> str | None:
    """The rule that withholds a median, or None: over fewer than threshold values, or depending on a withheld count."""
    rule = dependent_rule(inputs, withheld)
    if rule:
        return rule
    if values_behind is not None and 0 < values_behind < threshold:
        return SMALL_MEDIAN
    return None
