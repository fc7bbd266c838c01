"""Readers' verdicts saved in the question set's format, read back by the evaluation."""

import json

import pytest

from qa import InputError
from qa.evaluation import judge, load_questions
from qa.feedback import MAX_CORRECTION_CHARS, feedback_for, save_feedback

ANSWERED = "Quelle est la surface de l'Experiences Lab de Microsoft à Toulouse ?"
UNANSWERED = "Qui a gagné la Coupe du monde de rugby 2023 ?"


def test_verdicts_become_questions_the_evaluation_reads(assistant, tmp_path):
    path = tmp_path / "fb" / "feedback.jsonl"
    docs = assistant.documents
    answer = assistant.ask(ANSWERED)
    assert not answer.abstained
    records = [
        feedback_for(answer, docs, liked=True),
        feedback_for(answer, docs, liked=False),
        feedback_for(answer, docs, correction="300 m2"),
        feedback_for(answer, docs, correction="un hangar de 9 000 hectares"),
        feedback_for(answer, docs, unanswerable=True),
    ]
    assert [r.verdict for r in records] == ["right", "wrong", "corrected", "wrong", "corrected"]
    assert records[0].docs == [answer.excerpts[0].citation.doc_id]
    assert records[2].docs == ["000_2d1ac743b4ad48ec.txt"]
    assert records[3].correction == "un hangar de 9 000 hectares" and records[3].docs == []
    for record in records:
        save_feedback(path, record)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["verdict"] for line in lines] == [r.verdict for r in records]
    assert lines[1]["shown"]["doc"] == answer.excerpts[0].citation.doc_id

    questions = load_questions(path)  # the two "wrong" lines are left for a maintainer
    assert [q.answerable for q in questions] == [True, True, False]
    for question in questions[:2]:  # asked again, the answer that was liked or given is found
        assert judge(question, assistant.ask(question.question), 0).answer_rank == 1


def test_an_abstention_judged_right_is_an_unanswerable_question(assistant, tmp_path):
    answer = assistant.ask(UNANSWERED)
    assert answer.abstained
    record = feedback_for(answer, assistant.documents, liked=True)
    save_feedback(tmp_path / "f.jsonl", record)
    (question,) = load_questions(tmp_path / "f.jsonl")
    assert question.question == UNANSWERED and not question.answerable


def test_empty_or_oversized_feedback_is_refused(assistant):
    answer = assistant.ask(ANSWERED)
    with pytest.raises(InputError, match="say whether"):
        feedback_for(answer, assistant.documents, correction="   ")
    with pytest.raises(InputError, match="over"):
        feedback_for(answer, assistant.documents, correction="x" * (MAX_CORRECTION_CHARS + 1))
