"""Property-based tests (issue 15): whatever a caller sends, through
`Assistant.ask`, the `qa` command or the page's `/ask`, the only outcomes are
an answer or a one-line `InputError`; whatever JSON stands in the manifest,
the index is either read or refused with `IndexCorruptedError`.

Bounded (a few dozen examples each, no deadline) so the suite stays fast;
`HYPOTHESIS_PROFILE=thorough` runs many more."""

from __future__ import annotations

import io
import json
import math
import os
import shutil

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qa import Answer, InputError
from qa.errors import IndexCorruptedError
from qa.settings import MODES
from qa.store import MANIFEST, load_index, read_manifest

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
#: The tests that set their own count multiply it by this under "thorough".
SCALE = 25 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 1

#: Questions: any Unicode (lone surrogates included), news words among them
#: so that some reach retrieval rather than all failing the emptiness check.
WORDS = st.sampled_from(["Toulouse", "budget", "IA", "Bègles", "qui", "2024", "€", "l'État"])
QUESTIONS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=12).map(" ".join),
    st.text(st.characters(codec=None), max_size=50),
)
COUNTS = st.one_of(
    st.integers(min_value=-3, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
MODE_VALUES = st.one_of(st.sampled_from(MODES), st.none(), st.text(max_size=8), st.integers())
DATES = st.one_of(
    st.none(),
    st.sampled_from(["2024", "2023-05", "2024-02-30", "1999-12-31", "", " "]),
    st.text(max_size=12),
)
#: Any JSON value (the page's API receives JSON).
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _one_line_input_error(err: BaseException) -> None:
    assert isinstance(err, InputError), f"{type(err).__name__}: {err}"
    message = str(err)
    assert message and "\n" not in message, repr(message)
    event(f"refused: {message.split(',')[0][:30]}")


def _ask(assistant, question, **options) -> None:
    try:
        answer = assistant.ask(question, **options)
    except Exception as err:
        _one_line_input_error(err)
        return
    assert isinstance(answer, Answer)
    event("abstained" if answer.abstained else "answered")
    k = options.get("k")
    assert len(answer.excerpts) <= (assistant.settings.k if k is None else k)
    assert answer.abstained == (not answer.excerpts)
    chosen = assistant.select(options.get("documents"))
    for excerpt in answer.excerpts + answer.closest:
        assert excerpt.text and excerpt.citation.doc_id in (chosen or assistant.documents)


@settings(max_examples=80 * SCALE)
@given(
    question=QUESTIONS,
    k=st.integers(1, 12),
    mode=st.sampled_from(MODES),
    since=DATES,
    until=DATES,
)
def test_any_question_is_answered_or_refused_in_one_line(
    assistant, question, k, mode, since, until
):
    _ask(assistant, question, k=k, mode=mode, since=since, until=until)


@given(question=QUESTIONS, k=COUNTS, mode=MODE_VALUES)
def test_any_k_and_mode_are_taken_or_refused_in_one_line(assistant, question, k, mode):
    _ask(assistant, question, k=k, mode=mode)


IDS = st.sampled_from(["000_2d1ac743b4ad48ec.txt", "001_e069358ba42b4717.txt", "nope"])


@given(documents=st.one_of(JSON, st.lists(IDS), IDS))
def test_ask_takes_any_selection(assistant, documents):
    _ask(assistant, "Quel est le budget du projet ?", documents=documents)


@pytest.fixture
def cli(assistant, monkeypatch):
    """`qa.cli.main` in this process, over the session's assistant (the
    command's own parsing, checks and printing are what is tested), its
    output written as strict UTF-8 as a terminal would take it."""
    from qa import cli as cli_module
    from qa.assistant import Assistant

    monkeypatch.setattr(Assistant, "load", classmethod(lambda cls, *a, **kw: assistant))

    def run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
        out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8") for _ in range(2))
        monkeypatch.setattr("sys.stdout", out)
        monkeypatch.setattr("sys.stderr", err)
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli_module.main(argv)
        texts = []
        for stream in (out, err):
            stream.flush()
            texts.append(stream.buffer.getvalue().decode("utf-8"))
        return code, texts[0], texts[1]

    return run


#: Command-line arguments as the shell hands them over: text, with bytes
#: that are not UTF-8 as surrogate escapes (U+DC80-U+DCFF).
ARGS = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")),
    WORDS,
)


@given(
    question=st.one_of(QUESTIONS, ARGS),
    options=st.lists(
        st.one_of(
            st.tuples(st.just("-k"), st.one_of(ARGS, st.integers(-2, 99).map(str))),
            st.tuples(st.just("--mode"), st.one_of(MODE_VALUES.map(str), ARGS)),
            st.tuples(st.sampled_from(["--since", "--until", "--document"]), ARGS),
            st.tuples(st.just("--json")),
        ),
        max_size=3,
    ),
    stdin=st.booleans(),
)
def test_cli_ask_answers_or_says_why_in_one_line(cli, question, options, stdin):
    flags = [a for option in options for a in option]
    argv = ["ask", *flags, "--", "-" if stdin else question]
    code, out, err = cli(argv, stdin=question if stdin else "")
    assert "Traceback" not in err
    event(f"exit {code}")
    if code == 0:
        assert out.strip()
        assert all(line.startswith("qa: warning: ") for line in err.splitlines())
    else:
        assert code == 2, (code, err)
        errors = [line for line in err.splitlines() if line.startswith("qa: error: ")]
        assert len(errors) == 1, err
    if code == 0 and "--json" in argv:
        json.loads(out)


def _call(base: str, api: str, data: list) -> tuple[str, object]:
    """POST `data` to the page's `api` as raw JSON (lone surrogates and any
    type included, which gradio_client would not send); the event's name
    and payload."""
    posted = httpx.post(
        f"{base}/gradio_api/call/{api}",
        content=json.dumps({"data": data}),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert posted.status_code == 200, posted.text[:300]
    stream = httpx.get(f"{base}/gradio_api/call/{api}/{posted.json()['event_id']}", timeout=60)
    event, _, rest = stream.text.partition("\ndata: ")
    return event.removeprefix("event: "), json.loads(rest.splitlines()[0])


@pytest.fixture(scope="module")
def page(assistant):
    from app import build_demo

    demo = build_demo(assistant)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield url.rstrip("/")
    finally:
        demo.close()


@settings(max_examples=30 * SCALE)
@given(
    question=st.one_of(QUESTIONS, JSON),
    k=st.one_of(COUNTS.filter(lambda v: not isinstance(v, float) or math.isfinite(v)), JSON),
    mode=st.one_of(MODE_VALUES, JSON),
    documents=st.one_of(st.none(), JSON),
    since=st.one_of(DATES, JSON),
    until=DATES,
)
def test_api_ask_answers_or_says_why(page, question, k, mode, documents, since, until):
    kind, payload = _call(page, "ask", [question, k, mode, documents, since, until])
    event(f"{kind}: {str(payload)[:30]}" if kind == "error" else kind)
    if kind == "complete":
        assert isinstance(payload[0], dict) and "excerpts" in payload[0]
        return
    assert kind == "error", (kind, payload)
    message = payload.get("error")
    assert message, "an error with no message: the handler crashed"
    assert "\n" not in message, message


#: Manifest fields the shape check knows, for mutations of a real manifest.
FIELDS = [
    "format_version",
    "build",
    "documents",
    "passages",
    "segments",
    "ann",
    "indexed",
    "updated",
]


@pytest.fixture(scope="module")
def manifest_folder(index_dir, tmp_path_factory):
    """A copy of the session's index whose manifest the tests overwrite."""
    folder = tmp_path_factory.mktemp("manifest") / "index"
    shutil.copytree(index_dir, folder)
    return folder


def _check_manifest(folder, text: str) -> None:
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    try:
        manifest = read_manifest(folder)
        if manifest is not None:
            load_index(folder, manifest)
        event("read" if manifest else "another format: rebuilt")
    except IndexCorruptedError as err:
        assert str(folder) in str(err), str(err)
        event(f"refused: {str(err).split(': ', 1)[-1][:25]}")


@given(value=JSON)
def test_any_json_as_manifest_is_read_or_refused(manifest_folder, value):
    _check_manifest(manifest_folder, json.dumps(value))


@given(field=st.sampled_from(FIELDS), value=JSON, drop=st.booleans())
def test_a_manifest_with_one_field_changed_is_read_or_refused(
    manifest_folder, index_dir, field, value, drop
):
    data = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    if drop:
        data.pop(field, None)
    else:
        data[field] = value
    _check_manifest(manifest_folder, json.dumps(data))


@given(
    field=st.sampled_from(["build", "documents", "segments"]),
    key=st.text(max_size=12),
    value=JSON,
)
def test_a_manifest_with_a_nested_value_changed_is_read_or_refused(
    manifest_folder, index_dir, field, key, value
):
    data = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    target = data[field]
    if isinstance(target, list):
        target = target[0]
    if field == "build" and isinstance(target.get("model"), dict) and key[:1] < "m":
        target = target["model"]
    target[key or next(iter(target))] = value
    _check_manifest(manifest_folder, json.dumps(data))
