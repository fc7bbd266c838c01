"""The evaluation: metric code on a hand-checked example, answer matching,
question-file errors, and the quality bar CI holds on the default set."""

import dataclasses
import json
import re

import pytest

from qa.cli import main
from qa.decide import HeldOut
from qa.errors import InputError
from qa.evaluation import (
    EvalQuestion,
    QuestionResult,
    answer_rank,
    format_held_out,
    format_separation,
    load_questions,
    mode_report,
    retype,
    score,
    short_is_right,
    tradeoff,
)

A, B, C = "a.txt", "b.txt", "c.txt"

QUESTIONS = [
    EvalQuestion("qa", "budget ?", (A,), ("50 millions",)),
    EvalQuestion("qb", "two articles ?", (A, C), ("x", "y")),
    EvalQuestion("qc", "not answered ?", (), ()),
    EvalQuestion("qd", "answerable, abstained ?", (B,), ("z",)),
]


def result(q, abstained=False, rank=None, first=False, docs=(), ms=10.0):
    return QuestionResult(q.id, q.question, q.answerable, abstained, rank, first, docs, 0.5, ms)


RESULTS = [
    # qa: the answer is in the second excerpt, from a.txt; the first is from b.txt.
    result(QUESTIONS[0], rank=2, docs=(B, A), ms=10.0),
    # qb: spans two articles; both came back first and second, together they answer.
    result(QUESTIONS[1], rank=2, first=True, docs=(C, A), ms=20.0),
    # qc: correctly abstained; qd: wrongly abstained.
    result(QUESTIONS[2], abstained=True, ms=30.0),
    result(QUESTIONS[3], abstained=True, ms=40.0),
]


def test_metrics_match_a_hand_computed_example():
    m = score(QUESTIONS, RESULTS, k=5)
    # Three answerable questions: qa, qb, qd.
    assert m["answer@1"] == pytest.approx(1 / 3)  # qb only (2 excerpts for 2 articles)
    assert m["answer@5"] == pytest.approx(2 / 3)  # qa and qb
    assert m["doc_recall@1"] == pytest.approx((0 + 1 / 2 + 0) / 3)
    assert m["doc_recall@5"] == pytest.approx((1 + 1 + 0) / 3)
    assert m["mrr"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    # nDCG@5: qa has its one relevant document at rank 2 -> 1/log2(3);
    # qb has both at ranks 1 and 2 -> 1; qd returned nothing -> 0.
    assert m["ndcg@5"] == pytest.approx((1 / 1.5849625 + 1 + 0) / 3, abs=1e-4)
    assert m["abstained_ok"] == 1.0
    assert m["abstained_wrong"] == pytest.approx(1 / 3)
    assert m["auc_answerable"] == 0.5  # every confidence is 0.5: no separation
    assert m["p50_ms"] == pytest.approx(25.0)
    assert m["p95_ms"] == pytest.approx(38.5)


def test_each_origin_is_scored_on_its_own_questions_and_one_origin_gets_no_table():
    """A set written later (its own `origin`) gets its own row, so a change
    can be read on wording nothing was chosen on."""

    def written(q, origin):
        return dataclasses.replace(q, origin=origin)

    questions = [written(q, "v2" if q.id in ("qa", "qc") else "v4") for q in QUESTIONS]
    report = mode_report("hybrid", questions, RESULTS, k=5)
    # v2: qa (answerable, answer at rank 2) and qc (unanswerable, abstained).
    assert report.by_origin["v2"]["answer@1"] == 0.0
    assert report.by_origin["v2"]["answer@5"] == 1.0
    assert report.by_origin["v2"]["abstained_ok"] == 1.0
    # v4: qb (answered first over two articles) and qd (wrongly abstained).
    assert report.by_origin["v4"]["answer@1"] == pytest.approx(1 / 2)
    assert report.by_origin["v4"]["abstained_wrong"] == pytest.approx(1 / 2)
    assert set(report.by_origin) == {"v2", "v4"}
    single = [written(q, "v2") for q in QUESTIONS]
    assert mode_report("hybrid", single, RESULTS, k=5).by_origin == {}


def test_held_out_and_separation_tables_have_a_row_each_and_blank_missing_kinds():
    rows = [
        HeldOut("v1", 10, 8, 0.9, 0.75, 0.3, 0.5, 0.125, {"near_topic": 0.5}),
        HeldOut("v2", 20, 15, None, 0.6, 0.25, 0.2, 0.0, {"off_topic": 0.2}),
    ]
    table = format_held_out(rows).splitlines()
    assert table[0].endswith("| near_topic abstained | off_topic abstained |")
    assert table[2] == "| v1 | 10 | 8 | 0.900 | 0.750 | 0.300 | 0.500 | 0.125 | 0.500 |  |"
    assert table[3] == "| v2 | 20 | 15 |  | 0.600 | 0.250 | 0.200 | 0.000 |  | 0.200 |"
    separation = {"near": {"best": 0.6, "coverage": 0.45}, "off": {"best": 0.9, "coverage": 0.8}}
    assert format_separation(separation).splitlines() == [
        "| gate input | AUC against near | AUC against off |",
        "|---|---|---|",
        "| best | 0.600 | 0.900 |",
        "| coverage | 0.450 | 0.800 |",
    ]


def test_auc_counts_pairs_ranked_right():
    questions = [
        EvalQuestion("a1", "?", (A,), ("x",)),
        EvalQuestion("a2", "?", (A,), ("x",)),
        EvalQuestion("u1", "?", (), ()),
        EvalQuestion("u2", "?", (), ()),
    ]
    confidence = {"a1": 0.9, "a2": 0.6, "u1": 0.5, "u2": 0.7}
    results = [
        QuestionResult(q.id, q.question, q.answerable, False, None, False, (), confidence[q.id], 1)
        for q in questions
    ]
    # Pairs (answerable, unanswerable) in the right order: 0.9>0.5, 0.9>0.7, 0.6>0.5.
    assert score(questions, results, k=5)["auc_answerable"] == pytest.approx(3 / 4)


def test_short_answers_are_scored_over_the_answerable_questions_offered_one():
    with_short = [
        dataclasses.replace(RESULTS[0], short="50 millions d'euros", short_right=True),
        dataclasses.replace(RESULTS[1], short="y", short_right=False),
        *RESULTS[2:],
    ]
    m = score(QUESTIONS, with_short, k=5)
    assert m["short_offered"] == pytest.approx(2 / 3)
    assert m["short_accuracy"] == pytest.approx(1 / 2)
    assert short_is_right("50 Millions d’euros", ["50 millions d'euros"])
    nine_words = "un budget de 50 millions d'euros sur quatre ans"
    assert not short_is_right(nine_words, ["50 millions"])


def test_the_tradeoff_curve_runs_from_answering_all_to_none():
    curve = tradeoff(RESULTS)
    assert curve[0][1:] == (0.0, 0.0) and curve[-1][1:] == (1.0, 1.0)
    # Every confidence is 0.5: one step, where both sides flip together.
    assert [(w, o) for _, w, o in curve] == [(0.0, 0.0), (0.0, 0.0), (1.0, 1.0)]


def test_answer_matching_uses_the_engines_normalisation():
    # No-break and narrow spaces, curly apostrophes, "m²" and case all match.
    assert answer_rank(["plus de 34\u202f000 emplois"], ["34 000 emplois"], False) == 1
    assert answer_rank(["L’économie"], ["l'ÉCONOMIE"], False) == 1
    assert answer_rank(["un espace de 300 m2"], ["300 m²"], False) == 1
    assert answer_rank(["a line\nbreak"], ["line break"], False) == 1


def test_one_excerpt_must_hold_every_answer_unless_spanning_articles():
    excerpts = ["Nantes", "Bordeaux", "Nantes et Bordeaux"]
    assert answer_rank(excerpts, ["Nantes", "Bordeaux"], across=False) == 3
    assert answer_rank(excerpts, ["Nantes", "Bordeaux"], across=True) == 2
    assert answer_rank(excerpts, ["Lyon"], across=True) is None


def write(tmp_path, text, name="q.jsonl"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe bad", "not valid UTF-8"),
        ('{"id": "a", "question": "x", "docs": [], "answers": []}\n{oops', ":2: not JSON"),
        ('{"id": "a", "question": "x"}\n{"id": "a", "question": "y"}', "duplicate id"),
        ('{"id": "a", "question": "x", "answers": ["y"]}', "'docs' is empty"),
        ('{"id": "a", "question": "x", "docs": ["f.txt"]}', "needs 'answers'"),
        ('{"id": "a", "question": ""}', "'question' must be"),
        ("\n\n", "no questions"),
    ],
)
def test_bad_question_files_are_clear_errors(tmp_path, content, message):
    with pytest.raises(InputError, match=message):
        load_questions(write(tmp_path, content))


def test_missing_question_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_questions(tmp_path / "none.jsonl")


def test_default_question_set_is_complete():
    questions = load_questions("evals/questions.jsonl")
    answerable = [q for q in questions if q.answerable]
    assert len(questions) >= 300
    assert sum(not q.answerable for q in questions) >= 80
    assert {d for q in answerable for d in q.docs} == {
        p.name for p in __import__("pathlib").Path("seeds").iterdir()
    }
    assert any(len(q.docs) > 1 for q in questions)
    assert any(q.lang == "en" for q in questions)


def test_fresh_questions_have_kinds_in_a_frozen_split():
    questions = load_questions("evals/questions.jsonl")
    fresh = [q for q in questions if q.origin == "v2"]
    kinds = {k: sum(q.kind == k for q in fresh) for k in {q.kind for q in fresh}}
    assert len(fresh) >= 300
    assert kinds["paraphrase"] >= 60 and kinds["english"] >= 50
    assert kinds["two_articles"] >= 30 and kinds["near_topic"] >= 60
    assert kinds["near_topic"] + kinds["off_topic"] >= 80
    for q in questions:
        assert q.split in ("dev", "test") and q.kind
    # The first set (tuned on by the hand-set weights) never reaches test,
    # nor do the questions added to dev later (the test split is frozen).
    assert all(q.split == "dev" for q in questions if q.origin in ("v1", "v3"))
    assert sum(q.origin == "v3" for q in questions) >= 300
    # The questions written after the split was frozen (`v4`, `v5`) are
    # test only.
    assert all(q.split == "test" for q in questions if q.origin in ("v4", "v5"))
    assert sum(q.origin == "v4" for q in questions) >= 60
    assert sum(q.origin == "v5" for q in questions) >= 60
    test = load_questions("evals/questions.jsonl", "test")
    assert test and all(q.split == "test" for q in test)
    dev = load_questions("evals/questions.jsonl", "dev")
    assert {q.id for q in test}.isdisjoint(q.id for q in dev)
    # Nor the same words under another id: a dev copy of a test question
    # would be fitted on, and flatter the test figures.
    words = {" ".join(re.findall(r"\w+", q.question.lower())) for q in test}
    assert not [q.id for q in dev if " ".join(re.findall(r"\w+", q.question.lower())) in words]


def test_an_unknown_split_is_refused(tmp_path):
    path = write(tmp_path, '{"id": "1", "question": "q ?", "split": "train"}\n')
    with pytest.raises(InputError, match="'split' must be one of dev, test"):
        load_questions(path)
    with pytest.raises(InputError, match="unknown split"):
        load_questions("evals/questions.jsonl", "validation")


def eval_cli(capsys, index_dir, seeds, *argv):
    code = main(["eval", "--index", str(index_dir), "--corpus", str(seeds), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_test_split_holds_the_quality_bar(capsys, index_dir, seeds, tmp_path):
    """The bar CI holds, on the test split nothing was tuned on: the figures
    reached there with the default model and the fitted answerability model
    (see the README), with a little room."""
    report = tmp_path / "eval.json"
    code, out, err = eval_cli(
        capsys, index_dir, seeds, "--split", "test",
        "--min-answer-at-1", "0.70", "--min-answer-at-k", "0.91",
        "--min-abstained", "0.48", "--max-wrong-abstained", "0.05",
        "--json", str(report), "--plot", str(tmp_path / "curve.png"),
    )  # fmt: skip
    assert code == 0, out + err
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| hybrid |" in out and "| lexical |" in out and "| dense |" in out
    assert "| hybrid by kind |" in out and "| paraphrase |" in out
    assert "| hybrid by origin |" in out and "| v4 |" in out and "| v5 |" in out
    data = json.loads(report.read_text())
    assert [m["mode"] for m in data["modes"]] == ["dense", "lexical", "hybrid"]
    assert len(data["modes"][2]["results"]) == len(load_questions("evals/questions.jsonl", "test"))
    assert set(data["modes"][2]["by_kind"]) >= {"paraphrase", "english", "near_topic"}
    # Short answers: offered for a fifth of the answerable questions, and
    # right (a gold string in at most 8 words) for 0.81 of those (README).
    hybrid = data["modes"][2]["metrics"]
    assert hybrid["short_offered"] >= 0.19 and hybrid["short_accuracy"] >= 0.76
    assert "| short offered | short right |" in out


@pytest.mark.parametrize(
    ("typed", "answer_at_k"), [("capitals", "0.88"), ("no-accents", "0.86"), ("request", "0.90")]
)
def test_test_split_typed_in_haste_holds_nearly_the_same_bar(
    capsys, index_dir, seeds, typed, answer_at_k
):
    """Every test question typed in capitals, without accents, or framed by
    a request ("Dis-moi…", "Can you tell me…"): read as the articles write
    them (`qa.text.WordForms`) and without the request (`qa.text.unframe`),
    they keep nearly the figures of the questions as written (README).
    Before, in capitals, answer@1 was 0.396 and 36% of answerable questions
    were abstained on; framed by a request, 0.695 and 4.3%. About a minute
    each: the one guard that the engine does not depend on how carefully,
    or how politely, a question is typed."""
    code, out, err = eval_cli(
        capsys, index_dir, seeds, "--split", "test", "--typed", typed, "--mode", "hybrid",
        "--min-answer-at-1", "0.65", "--min-answer-at-k", answer_at_k,
        "--max-wrong-abstained", "0.06", "--quiet",
    )  # fmt: skip
    assert code == 0, out + err
    assert f"typed {typed}" in out


def test_questions_are_retyped_with_their_answers_kept():
    q = EvalQuestion("q", "Où est l'école de Bègles ?", (A,), ("Bègles",))
    (caps,) = retype([q], "capitals")
    (bare,) = retype([q], "no-accents")
    assert caps.question == "OÙ EST L'ÉCOLE DE BÈGLES ?"
    assert bare.question == "Ou est l'ecole de Begles ?"
    assert caps.answers == bare.answers == ("Bègles",) and caps.docs == (A,)
    assert retype([q], "as-written") == [q]
    english = EvalQuestion("e", "Where is the AI school?", (A,), ("Bègles",), lang="en")
    named = EvalQuestion("n", "Digital Place a-t-il fusionné ?", (A,), ("oui",))
    order = EvalQuestion("o", "Donne-moi le nom du maire.", (A,), ("Rossignol",))
    framed = retype([q, q, english, named, order], "request")
    assert [f.question for f in framed] == [
        "Dis-moi où est l'école de Bègles ?",
        "Peux-tu me dire où est l'école de Bègles ?",
        "I'd like to know where is the AI school?",
        "Pouvez-vous m'indiquer Digital Place a-t-il fusionné ?",
        "Donne-moi le nom du maire.",
    ]
    assert framed[0].answers == ("Bègles",) and framed[0].docs == (A,)
    with pytest.raises(InputError, match="unknown typing 'sms'"):
        retype([q], "sms")


def test_a_missed_bar_exits_3_and_sweep_recommends(capsys, index_dir, seeds, tmp_path):
    questions = write(
        tmp_path,
        '{"id": "1", "question": "Qui a lancé la plateforme French Tech ?", '
        '"docs": ["002_ff58c89954683044.txt"], "answers": ["Fleur Pellerin"]}\n'
        '{"id": "2", "question": "Comment préparer une bonne ratatouille ?"}\n'
        '{"id": "3", "question": "Quelle plateforme agricole Microsoft lance-t-il ?", '
        '"docs": ["003_e1b8b1c84c49c586.txt"], "answers": ["pas dans le texte"]}\n',
    )
    code, out, err = eval_cli(
        capsys, index_dir, seeds, "--questions", str(questions), "--mode", "hybrid",
        "--sweep-threshold", "--min-answer-at-1", "0.9",
    )  # fmt: skip
    assert code == 3
    assert "hybrid answer@1 = 0.500, below 0.9" in err
    assert "3 answer not in the excerpts" in out
    assert "recommended min_confidence" in out


def test_unknown_article_in_a_question_file_is_a_warning(capsys, index_dir, seeds, tmp_path):
    questions = write(
        tmp_path,
        '{"id": "1", "question": "Qui a lancé French Tech ?", "docs": ["nope.txt"], '
        '"answers": ["Fleur Pellerin"]}\n',
    )
    code, _, err = eval_cli(
        capsys, index_dir, seeds, "--questions", str(questions), "--mode", "lexical"
    )
    assert code == 0
    assert "names 'nope.txt', which is not in the corpus" in err
