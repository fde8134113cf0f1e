"""Disclosure control rules on hand-worked tables."""

import pytest

from pipeline.disclosure import (
    DEPENDENT,
    PRIMARY,
    SECONDARY,
    SMALL_MEDIAN,
    Relation,
    check_relations,
    dependent_rule,
    determined,
    median_rule,
    withhold,
)


def test_primary_withholds_one_to_four_and_shows_zero():
    values = {"a": 0, "b": 1, "c": 4, "d": 5, "e": 120}
    assert withhold(values, [], 5) == {"b": PRIMARY, "c": PRIMARY}


def test_threshold_is_a_setting():
    values = {"a": 5, "b": 9, "c": 10}
    assert withhold(values, [], 10) == {"a": PRIMARY, "b": PRIMARY}


def test_one_withheld_part_takes_the_next_smallest_with_it():
    # total 30 = 3 + 7 + 20: 3 is withheld; alone it would be 30 - 7 - 20, so 7 goes too
    values = {"total": 30, "x": 3, "y": 7, "z": 20}
    assert withhold(values, [Relation("total", ("x", "y", "z"))], 5) == {"x": PRIMARY, "y": SECONDARY}


def test_counts_kept_from_an_earlier_issue_are_withheld_again_and_spare_another():
    # total 30 = 3 + 7 + 20: an earlier issue withheld 20 beside the 3 (say the 7 was then 17). Chosen afresh, 7
    # would go; kept, 20 is withheld again and protects the 3 by itself. The 7 is shown in both issues, the 20 in
    # neither, so the two together give back nothing.
    values = {"total": 30, "x": 3, "y": 7, "z": 20}
    relations = [Relation("total", ("x", "y", "z"))]
    assert withhold(values, relations, 5, kept=["z"]) == {"x": PRIMARY, "z": SECONDARY}
    # a kept count primary now is primary; one no longer published (a zero no table shows) is ignored
    assert withhold(values, relations, 5, kept=["x", "z", "gone"]) == {"x": PRIMARY, "z": SECONDARY}
    # a kept count that would leave another alone in a relation takes one more with it
    assert withhold({"total": 30, "y": 10, "z": 20}, [Relation("total", ("y", "z"))], 5, kept=["z"]) == {
        "z": SECONDARY,
        "y": SECONDARY,
    }


def test_a_count_an_earlier_issue_showed_is_the_last_choice():
    # total 30 = 3 + 7 + 20: afresh, 7 goes beside the 3. If an earlier issue showed 7 with this value (settled),
    # 20 goes instead, and the earlier issue's figures stay as published; settled counts go only when nothing else
    # will do.
    values = {"total": 30, "x": 3, "y": 7, "z": 20}
    relations = [Relation("total", ("x", "y", "z"))]
    assert withhold(values, relations, 5, settled={"y"}) == {"x": PRIMARY, "z": SECONDARY}
    assert withhold(values, relations, 5, settled={"y", "z"}) == {"x": PRIMARY, "total": SECONDARY}
    assert withhold(values, relations, 5, settled={"y", "z", "total"}) == {"x": PRIMARY, "y": SECONDARY}


def test_two_withheld_parts_need_nothing_more():
    values = {"total": 30, "x": 3, "y": 2, "z": 25}
    assert withhold(values, [Relation("total", ("x", "y", "z"))], 5) == {"x": PRIMARY, "y": PRIMARY}


def test_a_withheld_total_with_every_part_shown_is_protected():
    # total 4 = 4 + 0: the total is withheld, and its one non-zero part with it (otherwise total = 4 + 0)
    values = {"total": 4, "x": 4, "y": 0}
    assert withhold(values, [Relation("total", ("x", "y"))], 5) == {"total": PRIMARY, "x": PRIMARY}
    values = {"total": 12, "x": 12, "y": 0}
    assert withhold(values, [Relation("total", ("x", "y"))], 5) == {}


def test_secondary_cascades_across_relations():
    # rows: r1 = a + b, r2 = c + d; columns: k1 = a + c, k2 = b + d, all = r1 + r2
    values = {"a": 2, "b": 10, "c": 6, "d": 30, "r1": 12, "r2": 36, "k1": 8, "k2": 40, "all": 48}
    relations = [
        Relation("r1", ("a", "b")),
        Relation("r2", ("c", "d")),
        Relation("k1", ("a", "c")),
        Relation("k2", ("b", "d")),
        Relation("all", ("r1", "r2")),
    ]
    got = withhold(values, relations, 5)
    # a is primary; r1 = a + b needs b; k1 = a + c needs c; then r2 = c + d needs d (or r2), k2 = b + d has b
    assert got["a"] == PRIMARY and {"b", "c"} <= set(got)
    for relation in relations:
        assert sum(m in got for m in relation.members()) != 1


def test_absent_members_are_published_zeros():
    values = {"total": 9, "x": 3, "y": 6}
    relations = [Relation("total", ("x", "y", "missing"))]
    assert withhold(values, relations, 5) == {"x": PRIMARY, "y": SECONDARY}


def test_same_input_same_result_whatever_the_dict_order():
    values = {f"p{i}": v for i, v in enumerate([3, 8, 8, 9, 40])} | {"t": 68}
    relation = [Relation("t", tuple(f"p{i}" for i in range(5)))]
    first = withhold(values, relation, 5)
    second = withhold(dict(reversed(list(values.items()))), relation, 5)
    assert first == second == {"p0": PRIMARY, "p1": SECONDARY}  # ties (8, 8) broken by key


def test_relations_must_hold():
    check_relations({"t": 5, "a": 2, "b": 3}, [Relation("t", ("a", "b"))])
    with pytest.raises(ValueError, match="does not add up"):
        check_relations({"t": 6, "a": 2, "b": 3}, [Relation("t", ("a", "b"))])


def test_dependent_and_median_rules():
    withheld = {"n": PRIMARY}
    assert dependent_rule(["n", "m"], withheld) == DEPENDENT
    assert dependent_rule(["m"], withheld) is None
    assert median_rule(4, ["m"], withheld, 5) == SMALL_MEDIAN
    assert median_rule(5, ["m"], withheld, 5) is None
    assert median_rule(0, ["m"], withheld, 5) is None  # no values: nothing shown, nothing to withhold
    assert median_rule(50, ["n"], withheld, 5) == DEPENDENT


def test_no_count_is_determined_by_a_combination_of_totals():
    # t1 = x + y, t2 = x + z, t3 = y + z: no total has one withheld part, yet together they give
    # x = (t1 + t2 - t3) / 2 = 2. One total more must go (the smallest, t1): then x = 6 - z, y = 7 - z, t1 = 13 - 2z.
    values = {"x": 2, "y": 3, "z": 4, "t1": 5, "t2": 6, "t3": 7}
    relations = [Relation("t1", ("x", "y")), Relation("t2", ("x", "z")), Relation("t3", ("y", "z"))]
    assert withhold(values, relations, 5) == {"x": PRIMARY, "y": PRIMARY, "z": PRIMARY, "t1": SECONDARY}


def test_rolling_windows_go_with_a_withheld_quarter():
    # Quarters q1..q5 of one series and their windows w4 = q1 + .. + q4, w5 = q2 + .. + q5. With q3 (2) withheld,
    # q3 = w4 - q1 - q2 - q4 unless w4 goes too; w4 - w5 = q1 - q5 then gives w5 (and q3) unless it goes as well.
    values = {"q1": 10, "q2": 12, "q3": 2, "q4": 9, "q5": 11, "w4": 33, "w5": 34}
    relations = [Relation("w4", ("q1", "q2", "q3", "q4")), Relation("w5", ("q2", "q3", "q4", "q5"))]
    windows = {"q3": ["w4", "w5"]}
    got = withhold(values, relations, 5, follows=lambda key: windows.get(key, []))
    assert got == {"q3": PRIMARY, "w4": SECONDARY, "w5": SECONDARY}


def test_determined_finds_what_combinations_give_back():
    relations = [Relation("t1", ("x", "y")), Relation("t2", ("x", "z")), Relation("t3", ("y", "z"))]
    assert sorted(determined(relations, {"x": PRIMARY, "y": PRIMARY, "z": PRIMARY})) == ["x", "y", "z"]
    assert determined(relations, {"x": PRIMARY, "y": PRIMARY, "z": PRIMARY, "t1": SECONDARY}) == []
    # a 2 x 2 table with its margins published: every inner cell withheld, none determined
    square = [
        Relation("r1", ("a", "b")),
        Relation("r2", ("c", "d")),
        Relation("k1", ("a", "c")),
        Relation("k2", ("b", "d")),
    ]
    assert determined(square, dict.fromkeys("abcd", PRIMARY)) == []
    assert sorted(determined(square + [Relation("diag", ("a", "d"))], dict.fromkeys("abcd", PRIMARY))) == list("abcd")
