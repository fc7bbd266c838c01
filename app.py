"""The chat page: `python app.py [--host H] [--port P] [--share]`, then open
http://127.0.0.1:7860.

Thin on purpose: it loads one `Assistant` (building or updating the index
first, with progress in the terminal), renders its answers in French as cited
excerpts, and exposes two API endpoints for `gradio_client`: `/chat` (the
page's own, Markdown) and `/ask` (the answer as JSON, `Answer.to_dict()`).

Everything taken from an article is escaped before it reaches the page:
HTML, Markdown links and images in an article show as plain text.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import sys
from pathlib import Path
from typing import Any

import gradio as gr

from qa import Answer, Assistant, Excerpt, QAError
from qa.assistant import check_question
from qa.conversation import resolve_history
from qa.corpus import SUFFIXES
from qa.library import read_uploads
from qa.settings import MODES

EXAMPLES = [
    "Quel est le budget du plan IA de l'Occitanie ?",
    "Combien d'emplois compte le numérique en Midi-Pyrénées ?",
    "Où Microsoft a-t-il ouvert un Experiences Lab à Toulouse ?",
    "Qui a lancé la plateforme French Tech ?",
    "Where is the Cité numérique near Bordeaux?",
]
#: One question at a time: encoding uses both cores of these machines, so a
#: second concurrent request would only slow the first; others wait in line.
CONCURRENCY = 1
QUEUE_SIZE = 64
#: The page's progress bar follows the index update's own (tqdm) bar.
PROGRESS = gr.Progress(track_tqdm=True)


def render(answer: Answer, documents: dict[str, Any] | None = None, typed: str = "") -> str:
    """The reply in French: the short answer when there is one ("Réponse :
    40 start-up"), the answering sentence, then the numbered
    excerpts (title, file, position, sentence marked), each with the whole
    article one click away; or a plain "no answer" with the closest passages
    set apart. When the question `typed` was a follow-up, the reply says how
    it was understood."""
    parts = [f"> ⚠️ {_escape(w)}" for w in answer.warnings]
    if typed and typed.strip() != answer.question:
        parts.append(f"*Question comprise : « {_escape(answer.question)} »*")
    if answer.abstained:
        parts.append(
            f"**Les articles ne répondent pas à cette question.** {_escape(answer.reason)}"
        )
        if answer.closest:
            closest = [
                _render_excerpt(i, e, documents, closest=True)
                for i, e in enumerate(answer.closest, 1)
            ]
            parts.append(
                "<hr>\n\n*Passages les plus proches — ils ne répondent pas à la question :*\n\n"
                + "\n\n".join(closest)
            )
        return "\n\n".join(parts)
    lead = answer.excerpts[0]
    sentence = " … ".join(lead.highlighted) or lead.text
    quoted = f"« {_escape(sentence)} » — *{_escape(lead.citation.title)}* [1]"
    if answer.short is not None:
        parts.append(f"**Réponse : {_escape(answer.short.text)}**  \n{quoted}")
    else:
        parts.append(f"**Réponse :** {quoted}")
    excerpts = [_render_excerpt(i, e, documents) for i, e in enumerate(answer.excerpts, 1)]
    return "\n\n".join(parts) + "\n\n---\n\n" + "\n\n---\n\n".join(excerpts)


def _render_excerpt(
    number: int, excerpt: Excerpt, documents: dict[str, Any] | None, closest: bool = False
) -> str:
    c = excerpt.citation
    body = _marked(excerpt.text, [(h.start, h.end) for h in excerpt.highlights])
    where = (
        f"<small>{_escape(c.file.rsplit('/', 1)[-1])} · caractères {c.start}–{c.end} · "
        f"passage {c.passage + 1} · confiance {excerpt.scores.confidence:.2f}</small>"
    )
    title = f"**[{number}] {_escape(c.title)}**" + (f" — {_escape(c.byline)}" if c.byline else "")
    text = f"{title}  \n{where}\n\n{'> ' if closest else ''}{body}"
    doc = (documents or {}).get(c.doc_id)
    if doc is not None:
        article = _marked(doc.text, [(c.start, c.end)])
        text += (
            "\n\n<details><summary>Lire l'article entier</summary>\n\n"
            f'<div class="article">{article}</div>\n\n</details>'
        )
    return text


def _marked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` escaped, with each span wrapped in <mark>; paragraphs kept."""
    out, cursor = [], 0
    for start, end in sorted(spans):
        out += [_escape(text[cursor:start]), f"<mark>{_escape(text[start:end])}</mark>"]
        cursor = end
    out.append(_escape(text[cursor:]))
    return "".join(out).replace("\n\n", "<br><br>").replace("\n", "<br>")


def _escape(text: str) -> str:
    """Article text shown verbatim: no HTML, no Markdown links, images,
    emphasis or headings."""
    text = html.escape(text, quote=False)
    for ch in "\\*_`#[]()!|~<>":
        text = text.replace(ch, "\\" + ch)
    # Entities keep bare URLs, "www." and e-mail addresses from being linkified.
    return text.replace("://", "&#58;//").replace("www.", "www&#46;").replace("@", "&#64;")


def build_demo(assistant: Assistant) -> gr.Blocks:
    documents = assistant.documents

    def respond(message: str, history: list[dict[str, Any]], mode: str, k: float) -> str:
        asked = [m["content"] for m in history if m.get("role") == "user"]
        questions = [q if isinstance(q, str) else str(q) for q in asked] + [message]
        try:
            check_question(message, assistant.settings.max_question_chars)
            resolved = resolve_history(questions)[-1]
            answer = assistant.ask(resolved, k=int(k), mode=mode)
        except QAError as err:
            return f"⚠️ {_escape(str(err))}"
        return render(answer, documents, typed=message)

    def ask(question: str, k: int = 5, mode: str = "hybrid") -> dict[str, Any]:
        """The answer to `question` as JSON: excerpts with citations and highlight offsets."""
        try:
            return assistant.ask(question, k=int(k), mode=mode).to_dict()
        except QAError as err:
            raise gr.Error(str(err)) from None

    def articles() -> list[dict[str, Any]]:
        """The articles of the collection: id, title, date, file, passages, sha256."""
        return [dataclasses.asdict(a) for a in assistant.articles()]

    def remove_api(doc_id: str) -> dict[str, Any]:
        """Remove article `doc_id`; the index drops its passages. Returns the index report."""
        try:
            assistant.remove(doc_id)
        except QAError as err:
            raise gr.Error(str(err)) from None
        return {"removed": doc_id, "index": dataclasses.asdict(assistant.report)}

    def add_files(files: list[str] | None, progress: Any = PROGRESS) -> tuple[Any, ...]:
        """The Articles tab's upload (and the `/add` API): save the files, update
        the index, then show the new list and what was done."""
        try:
            paths = [Path(f) for f in files or []]
            uploads = read_uploads(paths, assistant.settings.max_upload_bytes)
            added = assistant.add(uploads, progress=True)
        except QAError as err:
            raise gr.Error(str(err)) from None
        r = assistant.report
        done = {"added": added, "index": dataclasses.asdict(r)}
        message = f"Ajouté : {', '.join(added)} — {r.embedded} passage(s) indexé(s)."
        return (message, *_library(), state(), done)

    def remove_chosen(doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            raise gr.Error("Choisissez d'abord l'article à retirer.")
        remove_api(doc_id)
        return (f"Retiré : {doc_id}.", *_library(), state())

    def _library() -> tuple[Any, Any]:
        rows = [[a.id, a.title, a.date or "", a.passages] for a in assistant.articles()]
        return rows, gr.update(choices=[r[0] for r in rows], value=None)

    def state() -> str:
        r, s = assistant.report, assistant.settings
        return (
            f"Modèle : {s.model} · {len(assistant.documents)} articles · {r.passages} passages"
            + (" · lecture seule" if s.read_only else "")
        )

    count = len(assistant.documents)
    with gr.Blocks(title="Questions sur les articles") as demo:
        with gr.Tab("Questions"):
            chatbot = gr.Chatbot(label="Conversation", height=620, elem_id="chat")
            chat = gr.ChatInterface(
                respond,
                chatbot=chatbot,
                title="Questions sur les articles",
                description=(
                    f"Réponses tirées mot pour mot de {count} articles, avec leur source ; "
                    "la phrase qui répond est surlignée. Aucune phrase n'est inventée."
                ),
                additional_inputs=[
                    gr.Radio(list(MODES), value=assistant.settings.mode, label="Recherche"),
                    gr.Slider(1, 10, value=assistant.settings.k, step=1, label="Extraits"),
                ],
                examples=[[q, assistant.settings.mode, assistant.settings.k] for q in EXAMPLES],
                api_name="chat",
                concurrency_limit=CONCURRENCY,
            )
            clear = gr.Button("Effacer la conversation", elem_id="clear")
            clear.click(
                lambda: ([], []), None, [chatbot, chat.chatbot_state], api_visibility="private"
            )
        writable = not assistant.settings.read_only
        with gr.Tab("Articles", elem_id="articles-tab"):
            status = gr.Markdown(state(), elem_id="index-state")
            rows, _ = _library()
            table = gr.Dataframe(
                value=rows,
                headers=["id", "titre", "date", "passages"],
                interactive=False,
                elem_id="articles",
            )
            with gr.Row(visible=writable):
                files = gr.File(
                    label="Ajouter des articles (.txt, .md, .html, .pdf)",
                    file_count="multiple",
                    file_types=list(SUFFIXES),
                    type="filepath",
                    elem_id="upload",
                )
                with gr.Column():
                    add_button = gr.Button("Ajouter", variant="primary", elem_id="add")
                    chosen = gr.Dropdown(
                        choices=[r[0] for r in rows], label="Article à retirer", elem_id="chosen"
                    )
                    remove_button = gr.Button("Retirer", variant="stop", elem_id="remove")
            message = gr.Markdown(elem_id="library-message")
            report = gr.JSON(visible=False)
            add_button.click(
                add_files,
                [files],
                [message, table, chosen, status, report],
                api_name="add",
                api_visibility="public" if writable else "private",
                concurrency_limit=CONCURRENCY,
            )
            remove_button.click(
                remove_chosen,
                [chosen],
                [message, table, chosen, status],
                api_visibility="private",
                concurrency_limit=CONCURRENCY,
            )
        gr.api(ask, api_name="ask", concurrency_limit=CONCURRENCY)
        gr.api(articles, api_name="articles", concurrency_limit=CONCURRENCY)
        if writable:
            gr.api(remove_api, api_name="remove", concurrency_limit=CONCURRENCY)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The chat page over the articles.")
    parser.add_argument("--host", default=os.environ.get("QA_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("QA_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="open a public gradio.live link")
    args = parser.parse_args(argv)
    try:
        assistant = Assistant.load(progress=True)
    except QAError as err:
        print(f"app: error: {err}", file=sys.stderr)
        return 1
    r = assistant.report
    print(f"index {r.status}: {r.documents} articles, {r.passages} passages", flush=True)
    build_demo(assistant).launch(server_name=args.host, server_port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
