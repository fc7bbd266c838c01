"""The gate trials' pieces (`evals/gate_trials.py`): the soft reading of a
missing word, the extra inputs each variant gives the gate, and the gate's
penalty reaching the fit."""

import numpy as np
import pytest

from evals.gate_trials import (
    TRIALS,
    UNTYPED_INPUTS,
    beside_features,
    parse,
    soft_missing,
    untyped_features,
)
from qa import decide
from qa.decide import QUESTION_FEATURES, feature_matrix, question_features
from tests.test_decide import signals, synthetic


def test_soft_missing_counts_a_word_as_much_as_it_is_far():
    weights = np.array([0.5, 0.3, 0.2])
    # Three sentences: the first holds word 0, the second has a close word
    # for it (0.9), the third nothing near.
    inside = np.array([[True, False, False], [False, False, False], [False, False, False]])
    closest = np.array([[0.0, 0.9, 0.1], [0.2, 0.2, 0.0], [1.0, 1.0, 1.0]])
    got = soft_missing(weights, inside, closest)
    assert got.tolist() == pytest.approx([0.3 * 0.8, 0.3 * 0.8, 0.5 * 0.9])
    # With no word vector anywhere it is the exact input: the largest share absent.
    exact = soft_missing(weights, inside, np.zeros((3, 3)))
    assert exact.tolist() == pytest.approx([0.3, 0.5, 0.5])
    assert soft_missing(np.zeros(0), np.zeros((0, 2), bool), np.zeros((0, 2))).tolist() == [0, 0]


def test_untyped_inputs_are_zero_when_a_kind_is_asked():
    x = feature_matrix([signals(0.9), signals(0.7)])
    p = np.array([0.3, 0.6])
    features = untyped_features(question_features)
    base = question_features(x, p)
    untyped = features(x, p)
    columns = [QUESTION_FEATURES.index(n) for n in UNTYPED_INPUTS]
    assert untyped[: len(base)].tolist() == pytest.approx(base.tolist())
    assert untyped[len(base) :].tolist() == pytest.approx(base[columns].tolist())
    wants = QUESTION_FEATURES.index("wants_kind")
    typed = feature_matrix([signals(0.9), signals(0.7)])
    typed[:, decide.FEATURES.index("wants_kind")] = 1.0
    assert question_features(typed, p)[wants] == 1.0
    assert not untyped_features(question_features)(typed, p)[len(base) :].any()


def test_an_input_beside_the_features_is_read_from_the_best_candidate():
    x = feature_matrix([signals(0.9), signals(0.7)])
    extra = np.hstack([x, np.array([[0.25], [0.75]])])
    p = np.array([0.3, 0.6])
    f = beside_features(question_features)(extra, p)
    assert f[:-1].tolist() == pytest.approx(question_features(x, p).tolist())
    assert f[-1] == 0.75


def test_the_gate_penalty_reaches_the_fit():
    questions = synthetic(60)
    loose, _ = decide.fit(questions, compare=False, repeats=1)
    tight, _ = decide.fit(questions, compare=False, repeats=1, gate_c=0.001)
    assert np.abs(tight.gate.coef).sum() < 0.5 * np.abs(loose.gate.coef).sum()
    # The ranker is not the gate: its weights do not move.
    assert tight.ranker.coef.tolist() == pytest.approx(loose.ranker.coef.tolist())


def test_no_trial_named_runs_every_trial_and_an_unknown_one_is_refused(capsys):
    assert parse([]).trials == list(TRIALS)
    assert parse(["untyped", "penalty"]).trials == ["untyped", "penalty"]
    with pytest.raises(SystemExit):
        parse(["penalties"])
    assert "unknown trial 'penalties'" in capsys.readouterr().err
