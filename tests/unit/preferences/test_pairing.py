import math

from dno.preferences.pairing import PairRules, all_pairs, build_pairs

RULES = PairRules(positive_min_score=5, margin=2, student_margin=1, max_pairs_per_prompt=1)
S = "student"
T = "teacher"


def test_best_student_against_worst_with_relaxed_margin():
    assert build_pairs([6, 5, 1, 3], [S] * 4, RULES) == [(0, 2)]
    assert build_pairs([5, 4, 4.5], [S] * 3, RULES) == [(0, 1)]  # 1 point is enough for a student positive


def test_positive_must_reach_threshold():
    assert build_pairs([4.5, 1, 0], [S] * 3, RULES) == []


def test_ties_never_pair():
    assert build_pairs([6, 6, 6], [S] * 3, RULES) == []
    assert build_pairs([6, 6], [S, T], RULES) == []


def test_teacher_positive_needs_full_margin():
    # the teacher is best (6) but the students are only 1-1.5 points lower: no pair
    assert build_pairs([5, 4.5, 6], [S, S, T], RULES) == []
    assert build_pairs([5, 4, 6], [S, S, T], RULES) == [(2, 1)]
    # on equal scores the teacher is the positive
    assert build_pairs([6, 3, 6], [S, S, T], RULES) == [(2, 1)]


def test_failed_judgments_take_no_part():
    assert build_pairs([math.nan, 6, 0], [S] * 3, RULES) == [(1, 2)]
    assert build_pairs([6, math.nan], [S] * 2, RULES) == []
    assert build_pairs([math.nan] * 3, [S] * 3, RULES) == []


def test_several_pairs_worst_first():
    rules = PairRules(positive_min_score=5, margin=2, student_margin=1, max_pairs_per_prompt=3)
    assert build_pairs([3, 6, 0, 5.5, 1], [S] * 5, rules) == [(1, 2), (1, 4), (1, 0)]


def test_teacher_pairs_per_prompt_caps_only_a_teacher_positive():
    rules = PairRules(positive_min_score=5, margin=2, student_margin=1, max_pairs_per_prompt=2)
    capped = PairRules(5, 2, 1, max_pairs_per_prompt=2, teacher_pairs_per_prompt=1)
    assert build_pairs([1, 0, 3, 6], [S, S, S, T], rules) == [(3, 1), (3, 0)]
    assert build_pairs([1, 0, 3, 6], [S, S, S, T], capped) == [(3, 1)]  # one pair for the teacher's answer
    assert build_pairs([1, 0, 6, 3], [S, S, S, T], capped) == [(2, 1), (2, 0)]  # a student positive: uncapped


def test_a_cut_off_candidate_may_be_rejected_but_never_chosen():
    # the best-scoring candidate (0) was cut off: the best finished one (1) is chosen instead
    done = [False, True, True, True]
    assert build_pairs([6, 5, 1, 3], [S] * 4, RULES, done) == [(1, 2)]
    assert build_pairs([6, 5, 1, 3], [S] * 4, RULES) == [(0, 2)]
    # a cut-off candidate stays a negative
    assert build_pairs([6, 1], [S, S], RULES, [True, False]) == [(0, 1)]
    # nothing finished: nothing to choose
    assert build_pairs([6, 1], [S, S], RULES, [False, False]) == []


def test_algorithm_1_pairs_never_choose_a_cut_off_candidate():
    rates = [1.0, 0.5, 0.0]
    assert all_pairs(rates, 3) == [(0, 2), (0, 1), (1, 2)]
    assert all_pairs(rates, 3, [False, True, True]) == [(1, 2)]
