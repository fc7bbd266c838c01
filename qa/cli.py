"""`qa index | ask | list | add | remove | eval | export`: the command line over `Assistant`.

Exit codes: 0 success, 1 a problem with the index or model (the message says
how to fix it), 2 bad input (empty question, unknown mode, missing corpus),
3 `qa eval` measured quality below a bar given with `--min-*` / `--max-*`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import NoReturn

from qa.answer import Answer, Excerpt
from qa.errors import CorpusError, InputError, QAError
from qa.settings import MODES, ROOT, TYPINGS, Settings

QUESTIONS = ROOT / "evals" / "questions.jsonl"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"qa: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--corpus", help="folder of articles (default: seeds/, or QA_CORPUS)")
    common.add_argument("--index", help="index folder (default: index/, or QA_INDEX)")
    common.add_argument(
        "--store",
        help="where the index lives: files (default), qdrant:PATH or "
        "qdrant+http://host:6333/COLLECTION (or QA_STORE)",
    )
    parser = _Parser(prog="qa", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    index = commands.add_parser("index", parents=[common], help="build or update the index")
    index.add_argument("--rebuild", action="store_true", help="rebuild from scratch")
    ask = commands.add_parser("ask", parents=[common], help="answer a question")
    ask.add_argument("question", help='the question ("-" reads it from standard input)')
    ask.add_argument("-k", type=int, help="number of excerpts (default 5, or QA_K)")
    ask.add_argument("--mode", help=f"retrieval mode: {', '.join(MODES)} (default hybrid)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument(
        "--document",
        action="append",
        dest="documents",
        metavar="ID",
        help="answer from this article only; repeat for several (ids: qa list)",
    )
    ask.add_argument("--since", help="from articles dated on or after YYYY[-MM[-DD]]")
    ask.add_argument("--until", help="from articles dated on or before YYYY[-MM[-DD]]")
    commands.add_parser("list", parents=[common], help="list the articles of the collection")
    add = commands.add_parser(
        "add", parents=[common], help="add article files to the collection and index them"
    )
    add.add_argument("files", nargs="+", help=".txt, .md, .html or .pdf files")
    remove = commands.add_parser(
        "remove", parents=[common], help="remove an article (its id, as `qa list` shows it)"
    )
    remove.add_argument("id", help="the article's id")
    export = commands.add_parser(
        "export", parents=[common], help="copy the files index into a Qdrant store"
    )
    export.add_argument(
        "--to", required=True, metavar="STORE", help="qdrant:PATH or qdrant+http://host:6333/NAME"
    )
    ev = commands.add_parser("eval", parents=[common], help="measure answers on a question set")
    ev.add_argument("--questions", default=str(QUESTIONS), help="JSON-lines question file")
    ev.add_argument(
        "--split",
        default="all",
        choices=("dev", "test", "all"),
        help="questions of one split only (tune on dev, report test; default all)",
    )
    ev.add_argument(
        "--mode", action="append", choices=MODES, help="mode to run (repeatable; default all)"
    )
    ev.add_argument(
        "--typed",
        default="as-written",
        choices=TYPINGS,
        help="ask every question as written, in capitals, without accents or framed by a"
        ' request ("Dis-moi …"; default as-written)',
    )
    ev.add_argument("-k", type=int, help="excerpts per question (default 5, or QA_K)")
    ev.add_argument("--json", metavar="FILE", help="write every figure and result as JSON")
    ev.add_argument("--sweep-threshold", action="store_true", help="sweep abstention thresholds")
    ev.add_argument(
        "--plot", metavar="FILE", help="write the abstention trade-off curve as a PNG (matplotlib)"
    )
    ev.add_argument(
        "--train-answerability",
        action="store_true",
        help="refit qa/answerability.json on the dev split, then evaluate",
    )
    ev.add_argument(
        "--held-out-origins",
        action="store_true",
        help="dev only: fit on all origins of the questions but one, judge on that one; "
        "then how well each gate input alone tells answerable from each kind of unanswerable",
    )
    ev.add_argument("--min-answer-at-1", type=float, metavar="X", help="fail below this answer@1")
    ev.add_argument("--min-answer-at-k", type=float, metavar="X", help="fail below this answer@k")
    ev.add_argument(
        "--min-abstained", type=float, metavar="X", help="fail if fewer unanswerable abstain"
    )
    ev.add_argument(
        "--max-wrong-abstained", type=float, metavar="X", help="fail if more answerable abstain"
    )
    ev.add_argument("--hybrid-best", action="store_true", help="fail if hybrid trails another mode")
    ev.add_argument("--quiet", action="store_true", help="print the table only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # usage errors (2) and --help (0)
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.WARNING, format="qa: %(levelname)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return _run(args)
    except (InputError, CorpusError) as err:
        print(f"qa: error: {err}", file=sys.stderr)
        return 2
    except QAError as err:
        print(f"qa: error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from qa.assistant import Assistant, check_question

    settings = Settings.from_env(corpus=args.corpus, index=args.index, store=args.store)
    where = settings.index if settings.store == "files" else settings.store
    if args.command == "index":
        assistant = Assistant.load(settings, rebuild=args.rebuild, progress=True)
        r = assistant.report
        print(
            f"index {r.status} ({r.reason}): {r.documents} documents, {r.passages} passages, "
            f"{r.embedded} embedded, {r.reused} reused -> {where}"
        )
        return 0
    if args.command == "export":
        return _export(args, settings)
    if args.command == "eval":
        return _eval(args, settings)
    if args.command in ("list", "add", "remove"):
        return _library(args, settings)
    question = sys.stdin.read() if args.question == "-" else args.question
    if args.mode is not None and args.mode not in MODES:
        raise InputError(f"unknown mode {args.mode!r}; choose one of {', '.join(MODES)}")
    if args.k is not None and args.k < 1:
        raise InputError(f"-k must be at least 1, got {args.k}")
    check_question(question, settings.max_question_chars)
    assistant = Assistant.load(settings)
    answer = assistant.ask(
        question,
        k=args.k,
        mode=args.mode,
        documents=args.documents,
        since=args.since,
        until=args.until,
    )
    for warning in answer.warnings:
        print(f"qa: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer, color=sys.stdout.isatty()))
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    """`qa export --to STORE`: the files index, brought up to date, copied."""
    import time

    from qa.assistant import Assistant
    from qa.stores import export_store

    Settings(store=args.to)  # a bad target is refused before the model loads
    if settings.store != "files":
        raise InputError(f"export reads the files store, not {settings.store!r}")
    assistant = Assistant.load(settings, progress=True)
    start = time.perf_counter()
    copy = export_store(assistant.retriever.store, args.to, settings)
    seconds = time.perf_counter() - start
    manifest = copy.manifest
    print(
        f"exported {len(manifest.documents)} documents, {manifest.passages} passages "
        f"-> {args.to} in {seconds:.1f} s"
    )
    return 0


def _library(args: argparse.Namespace, settings: Settings) -> int:
    """`qa list`, `qa add FILE…`, `qa remove ID`."""
    from pathlib import Path

    from qa.assistant import Assistant
    from qa.library import read_uploads

    if args.command == "add":
        uploads = read_uploads([Path(name) for name in args.files], settings.max_upload_bytes)
    # Assistant.add/remove refuse too; this says so before the model loads.
    if args.command != "list" and settings.read_only:
        raise InputError("this collection is read-only (QA_READ_ONLY=1)")
    assistant = Assistant.load(settings, progress=args.command != "list")
    if args.command == "add":
        for doc_id in assistant.add(uploads, progress=True):
            print(f"added {doc_id}")
    elif args.command == "remove":
        assistant.remove(args.id, progress=True)
        print(f"removed {args.id}")
    if args.command != "list":
        r = assistant.report
        print(f"index {r.status} ({r.reason}): {r.passages} passages, {r.embedded} embedded")
        return 0
    for a in assistant.articles():
        date = f" · {a.date}" if a.date else ""
        print(f"{a.id}  {a.passages} passages{date}\n    {a.title}")
    return 0


def _train(assistant: object, questions_file: str) -> None:
    """Fit the answerability model on the dev split and save it in the package."""
    from qa import decide
    from qa import evaluation as ev

    dev = ev.load_questions(questions_file, "dev")
    model, figures = decide.fit(ev.training_questions(assistant, dev))
    model.fitted["model"] = assistant.settings.model
    model.fitted["questions_file"] = os.path.relpath(questions_file, ROOT)
    decide.save_model(model)
    print(f"answerability fitted on {len(dev)} dev questions -> {decide.MODEL_FILE}")
    for name in ("logistic", "gradient_boosting"):
        f = figures[name]
        print(
            f"  {name} (cross-validated on dev): AUC {f['auc_answerable']}, best candidate "
            f"answers {f['first_candidate_answers']:.3f}; at threshold {f['threshold']:.3f}: "
            f"unanswerable abstained {f['abstained_ok']:.3f}, "
            f"answerable abstained {f['abstained_wrong']:.3f}"
        )
    # The short answers are fitted on the sentences the new model leads with.
    short, threshold, short_figures = decide.fit_short(ev.short_training(assistant, dev))
    model = dataclasses.replace(model, short=short, short_threshold=threshold)
    model.fitted["short_answer"] = short_figures
    decide.save_model(model)
    print(f"  saved: logistic, threshold {model.threshold:.3f}")
    print(
        f"  short answers (cross-validated on dev): best span right "
        f"{short_figures['best_span_right']:.3f}; at threshold {threshold:.3f} offered for "
        f"{short_figures['offered']:.3f} of the questions with a candidate, right "
        f"{short_figures['accuracy_offered']:.3f} of the time\n"
    )


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from qa import evaluation as ev
    from qa.assistant import Assistant

    if args.k is not None and args.k < 1:
        raise InputError(f"-k must be at least 1, got {args.k}")
    if args.held_out_origins and args.split != "dev":
        raise InputError("--held-out-origins fits models on the questions: use it with --split dev")
    questions = ev.retype(ev.load_questions(args.questions, args.split), args.typed)
    assistant = Assistant.load(settings, progress=True)
    if args.held_out_origins:
        from qa import decide

        origins = {q.id: q.origin for q in questions}
        training = ev.training_questions(assistant, questions)
        print(f"{len(questions)} dev questions from {args.questions}, each origin held out\n")
        shipped = decide.load_model().threshold
        print(ev.format_held_out(decide.held_out_groups(training, origins, shipped=shipped)))
        print(
            f"\nThe pooled rows score each question with the model fitted without its origin;"
            f" the shipped threshold ({shipped:.3f}) is the one qa/answerability.json holds."
        )
        print("\nEach gate input alone, answerable against each kind of unanswerable question:\n")
        print(ev.format_separation(decide.signal_separation(training)))
        return 0
    if args.train_answerability:
        _train(assistant, args.questions)
    modes = list(dict.fromkeys(args.mode or MODES))
    report = ev.evaluate(
        assistant, questions, modes, args.k, args.sweep_threshold, questions_file=args.questions
    )
    answerable = sum(q.answerable for q in questions)
    for warning in report.warnings:
        print(f"qa: warning: {warning}", file=sys.stderr)
    print(
        f"{len(questions)} questions ({answerable} answerable, {len(questions) - answerable} not) "
        f"from {args.questions}, split {args.split}, typed {args.typed}; k={report.k}, "
        f"min_confidence={settings.min_confidence}\n"
    )
    print(ev.format_table(report))
    if not args.quiet:
        print("\n" + ev.format_failures(report, questions))
    if report.sweep is not None:
        print("\n" + ev.format_sweep(report.sweep))
    if args.json:
        from pathlib import Path

        Path(args.json).write_text(
            json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    if args.plot:
        from qa.decide import load_model

        threshold = settings.min_confidence
        threshold = threshold if threshold >= 0 else load_model().threshold
        ev.plot_tradeoff(report, args.plot, threshold, args.split)
        print(f"\ntrade-off curve -> {args.plot}")
    bars = ev.Bars(
        args.min_answer_at_1,
        args.min_answer_at_k,
        args.min_abstained,
        args.max_wrong_abstained,
        args.hybrid_best,
    )
    failed = ev.check_bars(report, bars, settings.mode if settings.mode in modes else modes[0])
    for line in failed:
        print(f"qa: below the bar: {line}", file=sys.stderr)
    return 3 if failed else 0


def format_answer(answer: Answer, color: bool = False) -> str:
    """The answer as terminal text: one numbered block per excerpt, the
    answering sentences in bold (or between ** when not on a terminal)."""
    if answer.abstained:
        return f"No answer in these articles. {answer.reason}"
    width = min(shutil.get_terminal_size((100, 20)).columns, 100)
    blocks = [
        _format_excerpt(i, excerpt, width, color) for i, excerpt in enumerate(answer.excerpts, 1)
    ]
    if answer.short is not None:
        on, off = ("\033[1m", "\033[0m") if color else ("", "")
        blocks.insert(
            0,
            f"{on}Réponse : {answer.short.text}{off}  "
            f"(from [1], confidence {answer.short.confidence:.2f})",
        )
    return "\n\n".join(blocks)


def _format_excerpt(number: int, excerpt: Excerpt, width: int, color: bool) -> str:
    c = excerpt.citation
    on, off = ("\033[1m", "\033[0m") if color else ("**", "**")
    text, cursor = [], 0
    for h in excerpt.highlights:
        text += [excerpt.text[cursor : h.start], on, excerpt.text[h.start : h.end], off]
        cursor = h.end
    text.append(excerpt.text[cursor:])
    body = "\n".join(
        textwrap.fill(par, width, initial_indent="    ", subsequent_indent="    ")
        for par in "".join(text).split("\n")
        if par.strip()
    )
    where = (
        f"    {c.doc_id}, characters {c.start}-{c.end}, passage {c.passage}"
        f" · confidence {excerpt.scores.confidence:.2f}"
    )
    byline = f" — {c.byline}" if c.byline else ""
    return f"[{number}] {c.title}{byline}\n{where}\n{body}"


if __name__ == "__main__":
    raise SystemExit(main())
