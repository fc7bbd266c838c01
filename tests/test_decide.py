"""The fitted answerability model: features, JSON round trip, fitting."""

import dataclasses
import json
import warnings

import numpy as np
import pytest

from qa import decide
from qa.decide import (
    FEATURES,
    QUESTION_FEATURES,
    Answerability,
    Linear,
    ShortQuestion,
    Signals,
    TrainingQuestion,
    feature_matrix,
    question_features,
)
from qa.errors import InputError, ModelError
from qa.short import SHORT_FEATURES


def signals(cos: float, coverage: float = 0.5) -> Signals:
    return Signals(
        sentence_cos=cos, passage_cos=cos, retrieval=0.5, coverage=coverage,
        context_coverage=0.0, wants_kind=False, has_wanted=False, has_wanted_new=False,
        missing_keys_article=0.0, missing_keys_corpus=0.0, unknown_terms=0.0, heading=False,
        english=False, asks_count=False, counts_asked=False, missing_top_term=0.1,
    )  # fmt: skip


def test_feature_rows_compare_candidates():
    x = feature_matrix([signals(0.9), signals(0.7), signals(0.8)])
    assert x.shape == (3, len(FEATURES))
    gap = x[:, FEATURES.index("sentence_cos_gap")]
    assert gap.tolist() == pytest.approx([0.0, -0.2, -0.1])
    rank = x[:, FEATURES.index("sentence_cos_rank")]
    assert rank.tolist() == pytest.approx([1.0, 1 / 3, 1 / 2])
    assert feature_matrix([]).shape == (0, len(FEATURES))


def test_question_features_lead_with_the_best_candidate():
    x = feature_matrix([signals(0.9), signals(0.7)])
    f = question_features(x, np.array([0.2, 0.6]))
    assert f.shape == (len(QUESTION_FEATURES),)
    assert f[:2].tolist() == pytest.approx([0.6, 0.4])
    assert f[3:].tolist() == pytest.approx(x[1, decide._GATE_COLUMNS].tolist())


def synthetic(n: int, seed: int = 0) -> list[TrainingQuestion]:
    """Answerable questions have one candidate whose cosine stands out."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        answerable = i % 3 != 0
        cos = rng.uniform(0.6, 0.75, 8)
        y = np.zeros(8, dtype=bool)
        if answerable:
            j = int(rng.integers(8))
            cos[j] = rng.uniform(0.8, 0.95)
            y[j] = True
        x = feature_matrix([signals(float(c), coverage=float(c)) for c in cos])
        out.append(TrainingQuestion(f"q{i}", "k", x, y, answerable))
    return out


def test_a_french_question_no_article_shares_a_word_with_is_not_answered():
    """The shipped model answers nothing when every word of a French
    question is unknown to the articles, however high its gate would go;
    an English question, whose words French articles lack anyway, is
    judged by the gate as before."""
    model = decide.load_model()
    strong = [signals(0.95, coverage=0.0), signals(0.7, coverage=0.0)]
    gate_alone = model.score(feature_matrix(strong))[1]
    assert gate_alone > model.threshold  # the case the rule is for

    unknown = [dataclasses.replace(s, unknown_terms=1.0) for s in strong]
    confidence, answered = model.score(feature_matrix(unknown))
    assert answered == 0.0 and not confidence.any()

    almost = [dataclasses.replace(s, unknown_terms=0.9) for s in strong]
    assert model.score(feature_matrix(almost))[1] > 0
    english = [dataclasses.replace(s, english=True) for s in unknown]
    assert model.score(feature_matrix(english))[1] > model.threshold


def test_fit_separates_and_keeps_wrong_abstentions_under_the_bar():
    model, figures = decide.fit(synthetic(90), max_wrong=0.03)
    assert figures["logistic"]["auc_answerable"] > 0.9
    assert figures["logistic"]["abstained_wrong"] <= 0.03
    assert "gradient_boosting" in figures
    confidence, answered = model.score(synthetic(3, seed=9)[1].x)
    assert 0 <= answered <= 1 and confidence.max() == pytest.approx(answered)


def test_the_threshold_is_chosen_on_several_draws_of_folds_and_refits_the_same():
    """Each question's cross-validated probability is the mean over
    `repeats` draws of folds: a refit gives the same threshold, and one
    draw alone (the first of them) gives another on noisy questions."""
    questions = synthetic(80, seed=4)
    once, figures_once = decide.fit(questions, compare=False, repeats=1)
    thrice, figures = decide.fit(questions, compare=False, repeats=3)
    again, _ = decide.fit(questions, compare=False, repeats=3)
    assert figures["repeats"] == 3 and figures_once["repeats"] == 1
    assert thrice.threshold == again.threshold
    assert figures["logistic"]["curve"] != figures_once["logistic"]["curve"]
    # The final model is fitted on every question whatever the draws.
    x = questions[0].x
    assert np.allclose(once.score(x)[0], thrice.score(x)[0])


def test_held_out_groups_judge_each_group_with_a_model_fitted_without_it():
    questions = synthetic(100) + [q for q in synthetic(30, seed=3) if q.answerable]
    questions[100:] = [dataclasses.replace(q, id=f"c{q.id}") for q in questions[100:]]
    # The third group has no unanswerable question: it cannot be judged.
    group_of = {q.id: "a" if i < 50 else "b" if i < 100 else "c" for i, q in enumerate(questions)}
    rows = decide.held_out_groups(questions, group_of, shipped=0.4)
    assert [r.group for r in rows] == ["a", "b", decide.POOLED_CHOSEN, decide.POOLED_SHIPPED]
    a = rows[0]
    held = [q for q in questions if group_of[q.id] == "a"]
    assert (a.questions, a.answerable) == (len(held), sum(q.answerable for q in held))
    # The threshold is the one a model fitted on the other groups chose.
    model, _ = decide.fit([q for q in questions if group_of[q.id] != "a"], compare=False)
    assert a.threshold == pytest.approx(model.threshold, abs=1e-4)
    answered = np.array([model.score(q.x)[1] for q in held])
    unanswerable = np.array([not q.answerable for q in held])
    expected = float(np.mean(answered[unanswerable] < model.threshold))
    assert a.abstained_ok == pytest.approx(expected, abs=1e-4)
    assert a.abstained_by_kind == {"k": pytest.approx(expected, abs=1e-4)}
    # The synthetic answers stand out, so a fair split separates them.
    assert a.auc > 0.9 and a.first_candidate_answers > 0.9
    # The pooled rows hold every judged question, each scored by the model
    # that never saw its group; the shipped row is judged at the given
    # threshold, the other at the one the same rule chooses on them.
    chosen, shipped = rows[2], rows[3]
    b_held = [q for q in questions if group_of[q.id] == "b"]
    assert chosen.questions == shipped.questions == len(held) + len(b_held)
    assert shipped.threshold == 0.4
    model_b, _ = decide.fit([q for q in questions if group_of[q.id] != "b"], compare=False)
    scores = [model.score(q.x)[1] for q in held] + [model_b.score(q.x)[1] for q in b_held]
    labels = [q.answerable for q in held + b_held]
    wrong = [s < 0.4 for s, y in zip(scores, labels, strict=True) if y]
    refused = [s < 0.4 for s, y in zip(scores, labels, strict=True) if not y]
    assert shipped.abstained_wrong == pytest.approx(float(np.mean(wrong)), abs=1e-4)
    assert shipped.abstained_ok == pytest.approx(float(np.mean(refused)), abs=1e-4)
    # The chosen threshold keeps wrong abstentions within the rule's 3%.
    assert chosen.abstained_wrong <= 0.03
    assert chosen.auc == shipped.auc and chosen.threshold != shipped.threshold


def test_signal_separation_finds_the_inputs_that_tell_kinds_apart():
    questions = synthetic(90)
    answerable = [q for q in questions if q.answerable]
    # "off": no candidate stands out; "copy": the candidates of answerable
    # questions, so nothing can tell them apart.
    off = [dataclasses.replace(q, kind="off") for q in questions if not q.answerable]
    copies = [
        dataclasses.replace(
            q, id=f"copy{q.id}", kind="copy", y=np.zeros_like(q.y), answerable=False
        )
        for q in answerable[:30]
    ]
    separation = decide.signal_separation(answerable + off + copies)
    assert list(separation) == ["copy", "off"]
    assert list(separation["off"]) == list(QUESTION_FEATURES)
    assert separation["off"]["sentence_cos"] > 0.9
    assert 0.3 < separation["copy"]["sentence_cos"] < 0.7


def test_json_round_trip_and_bad_files(tmp_path):
    model, _ = decide.fit(synthetic(60), max_wrong=0.05)
    path = tmp_path / "m.json"
    decide.save_model(model, path)
    again = decide.load_model(path)
    x = synthetic(2, seed=3)[1].x
    assert again.score(x)[1] == pytest.approx(model.score(x)[1], abs=1e-6)
    data = json.loads(path.read_text())
    data["features"] = data["features"][:-1]
    with pytest.raises(ModelError, match="other features"):
        Answerability.from_json(data)
    with pytest.raises(ModelError, match="missing"):
        decide.load_model(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ModelError, match="unreadable"):
        decide.load_model(tmp_path / "bad.json")


def test_linear_weights_of_the_wrong_length_are_refused():
    good = Linear(np.zeros(3), np.ones(3), np.ones(3), 0.0).to_json()
    with pytest.raises(ModelError, match="wrong length"):
        Linear.from_json(good, 4)


def test_the_shipped_model_was_fitted_on_dev():
    model = decide.load_model()
    assert model.fitted["on"] == "dev split"
    assert 0 < model.threshold < 1
    assert model.fitted["logistic"]["abstained_wrong"] <= 0.03


def short_synthetic(n: int, seed: int = 0) -> list[ShortQuestion]:
    """Two spans per question; the right one is nearer the question's words
    most of the time, so nearness predicts rightness but not perfectly, and
    the sentence holds a right span as often as its confidence says, so
    the most confident short answers are the likeliest right."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        near = rng.uniform(0, 1, 2)
        confidence = rng.uniform(0.3, 1.0)
        y = np.zeros(2, dtype=bool)
        y[int(np.argmax(near + rng.normal(0, 0.3, 2)))] = rng.uniform() < confidence
        x = np.zeros((2, len(SHORT_FEATURES)))
        x[:, SHORT_FEATURES.index("near")] = near
        x[:, SHORT_FEATURES.index("confidence")] = confidence
        out.append(ShortQuestion(f"q{i}", "number", x, y))
    return out


def test_short_answers_are_offered_where_cross_validation_says_they_are_right(tmp_path):
    short, threshold, figures = decide.fit_short(short_synthetic(150), min_accuracy=0.8)
    assert 0 < threshold < 1
    assert figures["accuracy_offered_smoothed"] >= 0.8
    assert 0 < figures["offered"] < 1
    # Each question's probability is the mean over five draws of folds.
    assert figures["repeats"] == 5
    # Saved beside the answerability model, and read back the same.
    model, _ = decide.fit(synthetic(60), max_wrong=0.05)
    model = dataclasses.replace(model, short=short, short_threshold=threshold)
    path = tmp_path / "m.json"
    decide.save_model(model, path)
    again = decide.load_model(path)
    x = short_synthetic(1, seed=5)[0].x
    assert again.short.probabilities(x) == pytest.approx(short.probabilities(x), abs=1e-6)
    assert again.short_threshold == pytest.approx(threshold, abs=1e-6)
    data = json.loads(path.read_text())
    data["short_answer"]["features"] = ["other"]
    with pytest.raises(ModelError, match="short-answer"):
        Answerability.from_json(data)


def test_the_short_answer_curve_has_no_empty_threshold():
    """Thresholds are probabilities rounded to 4 places: the highest, rounded
    up, offers nothing, and a row for it was the mean of an empty slice (a
    NaN and a warning at every refit). Seed 6 rounds its highest up."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, threshold, figures = decide.fit_short(short_synthetic(150, seed=6))
    assert 0 < threshold < 1
    assert all(np.isfinite(row).all() for row in figures["curve"])


def test_the_shipped_model_offers_short_answers():
    model = decide.load_model()
    assert model.short is not None and 0 < model.short_threshold < 1
    assert model.fitted["short_answer"]["accuracy_offered_smoothed"] >= 0.8


def simpson(n: int, seed: int) -> list[TrainingQuestion]:
    """Within each question the answering sentences are the shorter ones,
    but the questions with many answering sentences have long sentences
    throughout: over all candidates, longer sentences answer more often."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if i % 2:
            length, y = np.r_[np.full(5, 4.0), np.full(5, 5.0)], np.r_[np.ones(5), np.zeros(5)]
        else:
            length, y = np.r_[-1.0, np.zeros(9)], np.r_[1.0, np.zeros(9)]
        x = np.c_[length + rng.normal(0, 0.2, 10), rng.normal(0, 1, 10)]
        order = rng.permutation(10)
        out.append(TrainingQuestion(f"s{seed}-{i}", "k", x[order], y[order].astype(bool), True))
    return out


def test_the_ranker_learns_what_ranks_first_within_a_question():
    """The ranker is fitted listwise, on each question's candidates against
    one another: here a model of each candidate alone learns that long
    sentences answer, and puts a wrong one first for every question."""
    train, held = simpson(100, 1), simpson(100, 2)
    ranker = decide._fit_ranker(train)
    alone = Linear.fit(np.vstack([q.x for q in train]), np.concatenate([q.y for q in train]))

    def first_right(model: Linear) -> float:
        return float(np.mean([q.y[int(np.argmax(model.probabilities(q.x)))] for q in held]))

    assert first_right(alone) == 0.0
    assert first_right(ranker) == 1.0
    # Its scores are still probabilities: on the usual synthetic questions
    # their mean is the share of candidates that answer.
    questions = [q for q in synthetic(120) if q.answerable]
    ranker = decide._fit_ranker(questions)
    p = np.concatenate([ranker.probabilities(q.x) for q in questions])
    y = np.concatenate([q.y for q in questions])
    assert p.mean() == pytest.approx(y.mean(), abs=0.01)
    assert p[y].mean() > 0.5 > p[~y].mean()


def test_a_ranker_with_nothing_to_order_says_so():
    """Questions whose candidates all answer (or none do) hold no order to
    learn: the fit says why instead of failing inside numpy."""
    questions = [dataclasses.replace(q, y=np.ones_like(q.y)) for q in synthetic(12)]
    with pytest.raises(InputError, match="nothing to learn an order from"):
        decide._fit_ranker(questions)


def test_fitting_runs_blas_on_one_thread_and_gives_the_threads_back(monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    seen: list[set[int]] = []
    fit_ranker = decide._fit_ranker

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return fit_ranker(*args, **kwargs)

    monkeypatch.setattr(decide, "_fit_ranker", spy)
    decide.fit(synthetic(30), compare=False, repeats=1)
    assert seen and all(threads == {1} for threads in seen)
    assert blas_threads() == before
