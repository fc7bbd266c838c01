"""The chat page: `python app.py [--host H] [--port P] [--share]`, then open
http://127.0.0.1:7860.

Thin on purpose: it loads one `Assistant` (building or updating the index
first, with progress in the terminal), renders its answers in French as cited
excerpts, and exposes API endpoints for `gradio_client`: `/chat` (the page's
own: Markdown and the citation to copy), `/ask` (the answer as JSON,
`Answer.to_dict()`, optionally kept to some articles or dates), `/articles`,
and, unless QA_READ_ONLY=1, `/add` and `/remove`. Two tabs: the chat (with
its filter, thumbs and corrections saved by `qa.feedback`) and the
collection (`qa.library`: read, add, paste, replace, remove).

Everything taken from an article is escaped before it reaches the page:
HTML, Markdown links and images in an article show as plain text.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import re
import sys
from pathlib import Path
from typing import Any

import gradio as gr

from qa import Answer, Assistant, Excerpt, QAError
from qa.assistant import check_question
from qa.conversation import resolve_history
from qa.corpus import SUFFIXES
from qa.evaluation import WRONG
from qa.feedback import feedback_for, save_feedback
from qa.library import Upload, read_uploads
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
    quoted = f"« {_escape(lead.said)} » — *{_escape(lead.citation.title)}* [1]"
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


#: What makes a line a list item, a heading's underline or a rule when it
#: starts one: "- Mickaël Bosredon/20 Minutes" (a photo credit), "2019. Le…".
_BLOCK_START = re.compile(r"(?m)^([ \t]*)([-+=]|\d{1,9}(?=[.)]))")


def _escape(text: str) -> str:
    """Article text shown verbatim: no HTML, no Markdown links, images,
    emphasis or headings, and no list or rule where a line (an excerpt's
    first) starts with a dash, a plus sign or a number and a full stop."""
    text = html.escape(text, quote=False)
    for ch in "\\*_`#[]()!|~<>":
        text = text.replace(ch, "\\" + ch)
    text = _BLOCK_START.sub(
        lambda m: m[1] + (m[2] + "\\" if m[2][0].isdigit() else "\\" + m[2]), text
    )
    # Entities keep bare URLs, "www." and e-mail addresses from being linkified.
    return text.replace("://", "&#58;//").replace("www.", "www&#46;").replace("@", "&#64;")


def quote(answer: Answer) -> str:
    """The answer ready to paste: the answering sentence in quotes, then the
    article's title, author and date when known, and file ("" when the
    articles do not answer)."""
    if answer.abstained or not answer.excerpts:
        return ""
    lead = answer.excerpts[0]
    c = lead.citation
    source = ", ".join(x for x in (c.title, c.author, c.date) if x)
    return f"« {lead.said} » — {source} ({c.file.rsplit('/', 1)[-1]})"


def render_article(doc: Any, passages: int) -> str:
    """The Articles tab's reading pane: the article in full, escaped, with
    what is known about it."""
    facts = [f"fichier {doc.id}", f"{passages} passage(s)"]
    facts += [x for x in (doc.author, doc.date) if x]
    return (
        f"### {_escape(doc.title)}\n<small>{_escape(' · '.join(facts))}</small>\n\n"
        f'<div class="article">{_marked(doc.text, [])}</div>'
    )


def _when(iso: str | None) -> str:
    """ "2026-11-23 20:36" from an ISO time ("" for none)."""
    return (iso or "")[:16].replace("T", " ")


def _count(value: Any) -> Any:
    """A count as JSON or a slider sends it ("5", 5.0) made an int; anything
    else is passed on as it is, for `Assistant.ask` to refuse clearly."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return value


def _message_text(content: Any) -> str:
    """A chat message's text, whatever shape the Chatbot gives it in."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, list):
        return "".join(_message_text(part) for part in content)
    return ""


def build_demo(assistant: Assistant) -> gr.Blocks:
    settings = assistant.settings
    writable = not settings.read_only

    def respond(
        message: str,
        history: list[dict[str, Any]],
        mode: str,
        k: float,
        chosen: list[str] | None,
        since: str,
        until: str,
        shown: list[tuple[str, Answer]],
    ) -> tuple[str, list[tuple[str, Answer]], str]:
        """A chat turn: the reply, the answers shown so far (for feedback)
        and the last answer ready to quote."""
        asked = [m["content"] for m in history if m.get("role") == "user"]
        questions = [_message_text(q) for q in asked] + [message]
        try:
            check_question(message, settings.max_question_chars)
            resolved = resolve_history(questions)[-1]
            answer = assistant.ask(
                resolved, k=_count(k), mode=mode, documents=chosen or None, since=since, until=until
            )
        except QAError as err:
            return f"⚠️ {_escape(str(err))}", shown, ""
        reply = render(answer, assistant.documents, typed=message)
        return reply, [*shown, (reply, answer)][-50:], quote(answer)

    def ask(
        question: str,
        k: int = 5,
        mode: str = "hybrid",
        documents: list[str] | None = None,
        since: str = "",
        until: str = "",
    ) -> dict[str, Any]:
        """The answer to `question` as JSON: excerpts with citations and
        highlight offsets. `documents` (ids), `since` and `until` (YYYY,
        YYYY-MM or YYYY-MM-DD) keep it to those articles."""
        try:
            answer = assistant.ask(
                question,
                k=_count(k),
                mode=mode,
                documents=documents or None,
                since=since,
                until=until,
            )
        except QAError as err:
            raise gr.Error(str(err)) from None
        return answer.to_dict()

    def on_like(
        shown: list[tuple[str, Answer]], history: list[dict[str, Any]], like: gr.LikeData
    ) -> str:
        """A thumbs up or down on a reply, saved as feedback."""
        liked = {True: True, "Like": True, False: False, "Dislike": False}.get(like.liked)
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        if liked is None or not isinstance(index, int) or index >= len(history):
            return ""
        text = _message_text(history[index].get("content"))
        answer = next((a for reply, a in reversed(shown) if reply == text), None)
        if answer is None:
            return "Rien à juger dans ce message."
        return _save(feedback_for(answer, assistant.documents, liked=liked))

    def correct(shown: list[tuple[str, Answer]], right: str, unanswerable: bool) -> str:
        """The reader's correction of the last answer."""
        if not shown:
            raise gr.Error("Posez d'abord une question.")
        _, answer = shown[-1]
        try:
            record = feedback_for(
                answer, assistant.documents, correction=right, unanswerable=unanswerable
            )
        except QAError as err:
            raise gr.Error(str(err)) from None
        return _save(record)

    def _save(record: Any) -> str:
        try:
            save_feedback(settings.feedback, record)
        except OSError as err:
            raise gr.Error(f"feedback not saved: {err}") from None
        if record.verdict == WRONG and record.correction:
            return (
                f"Merci. « {_escape(record.correction)} » ne figure mot pour mot dans aucun "
                "article : la remarque est gardée pour relecture."
            )
        return f"Merci, c'est noté ({record.verdict}) pour « {_escape(record.question)} »."

    def articles() -> list[dict[str, Any]]:
        """The articles of the collection: id, title, date, file, passages,
        sha256 and when each was indexed."""
        return [dataclasses.asdict(a) for a in assistant.articles()]

    def remove_api(doc_id: str) -> dict[str, Any]:
        """Remove article `doc_id`; the index drops its passages. Returns the index report."""
        try:
            assistant.remove(doc_id)
        except QAError as err:
            raise gr.Error(str(err)) from None
        return {"removed": doc_id, "index": dataclasses.asdict(assistant.report)}

    def _uploads(files: list[str] | None) -> list[Upload]:
        return read_uploads([Path(f) for f in files or []], settings.max_upload_bytes)

    def add_files(files: list[str] | None, progress: Any = PROGRESS) -> tuple[Any, ...]:
        """The Articles tab's upload (and the `/add` API): save the files, update
        the index, then show the new list and what was done."""
        try:
            added = assistant.add(_uploads(files), progress=True)
        except QAError as err:
            raise gr.Error(str(err)) from None
        done = {"added": added, "index": dataclasses.asdict(assistant.report)}
        return (_added(added), *_library(), done)

    def add_text(title: str, text: str, progress: Any = PROGRESS) -> tuple[Any, ...]:
        """A pasted article: saved as a .txt named after its title."""
        title, text = (title or "").strip(), (text or "").strip()
        if not title or not text:
            raise gr.Error("Donnez un titre et le texte de l'article.")
        name = f"{title[:80]}.txt"
        try:
            upload = Upload(name, f"{title}\n\n{text}\n".encode())
            added = assistant.add([upload], progress=True)
        except QAError as err:
            raise gr.Error(str(err)) from None
        return (_added(added), *_library())

    def _added(added: list[str]) -> str:
        embedded = assistant.report.embedded
        return f"Ajouté : {', '.join(added)} — {embedded} passage(s) indexé(s)."

    def replace_chosen(
        doc_id: str | None, files: list[str] | None, progress: Any = PROGRESS
    ) -> tuple[Any, ...]:
        if not doc_id:
            raise gr.Error("Choisissez d'abord l'article à remplacer.")
        try:
            uploads = _uploads(files)
            if len(uploads) != 1:
                raise gr.Error("Déposez un seul fichier pour remplacer un article.")
            new_id = assistant.replace(doc_id, uploads[0], progress=True)
        except QAError as err:
            raise gr.Error(str(err)) from None
        return (f"Remplacé : {doc_id} par {new_id}.", *_library())

    def remove_chosen(doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            raise gr.Error("Choisissez d'abord l'article à retirer.")
        remove_api(doc_id)
        return (f"Retiré : {doc_id}.", *_library())

    def show(doc_id: str | None) -> str:
        doc = assistant.documents.get(doc_id or "")
        if doc is None:
            return ""
        passages = {a.id: a.passages for a in assistant.articles()}.get(doc.id, 0)
        return render_article(doc, passages)

    def _library() -> tuple[Any, Any, Any, str]:
        """The table, the article chooser, the chat's article filter and the state line."""
        listed = assistant.articles()
        rows = [[a.id, a.title, a.date or "", a.passages, _when(a.indexed)] for a in listed]
        choices = _choices(listed)
        return rows, gr.update(choices=choices, value=None), gr.update(choices=choices), state()

    def _choices(listed: list[Any]) -> list[tuple[str, str]]:
        """Articles as a chooser lists them: title and file, by id."""
        return [(f"{a.title} ({a.id})", a.id) for a in listed]

    def state() -> str:
        r, updated = assistant.report, assistant.retriever.store.manifest.updated
        return (
            f"Modèle : {settings.model} · {len(assistant.documents)} articles · "
            f"{r.passages} passages"
            + (f" · index mis à jour le {_when(updated)}" if updated else "")
            + (" · lecture seule" if settings.read_only else "")
        )

    rows, chooser, _, _ = _library()
    with gr.Blocks(title="Questions sur les articles") as demo:
        shown = gr.State([])
        with gr.Tab("Questions"):
            chatbot = gr.Chatbot(
                label="Conversation",
                height=620,
                elem_id="chat",
                feedback_options=["Like", "Dislike"],
            )
            citation = gr.Textbox(
                label="Citation à copier (phrase, article, date, fichier)",
                interactive=False,
                buttons=["copy"],
                elem_id="quote",
                render=False,
            )
            chat = gr.ChatInterface(
                respond,
                chatbot=chatbot,
                textbox=gr.Textbox(
                    placeholder="Votre question, en français ou en anglais…",
                    show_label=False,
                    label="Question",
                    scale=7,
                    autofocus=True,
                    submit_btn=True,
                    elem_id="question",
                ),
                title="Questions sur les articles",
                description=(
                    "Réponses tirées mot pour mot des articles de la collection (onglet "
                    "Articles), avec leur source ; la phrase qui répond est surlignée. "
                    "Aucune phrase n'est inventée."
                ),
                additional_inputs=[
                    # Not rendered here: the chat renders them in its accordion.
                    gr.Radio(list(MODES), value=settings.mode, label="Recherche", render=False),
                    gr.Slider(1, 10, value=settings.k, step=1, label="Extraits", render=False),
                    gr.Dropdown(
                        choices=chooser["choices"],
                        multiselect=True,
                        label="Seulement ces articles (tous si vide)",
                        elem_id="only",
                        render=False,
                    ),
                    gr.Textbox(
                        label="Articles datés à partir du (AAAA, AAAA-MM ou AAAA-MM-JJ)",
                        render=False,
                    ),
                    gr.Textbox(label="… et jusqu'au", render=False),
                    shown,
                ],
                additional_inputs_accordion=gr.Accordion(
                    "Options et filtre", open=False, render=False
                ),
                additional_outputs=[shown, citation],
                # The question alone: examples show as chips in the empty chat, and
                # run with the options as they are set.
                examples=[[q] for q in EXAMPLES],
                api_name="chat",
                concurrency_limit=CONCURRENCY,
            )
            only = chat.additional_inputs[2]
            citation.render()
            feedback_note = gr.Markdown(elem_id="feedback-note")
            with gr.Accordion("Signaler une erreur dans la dernière réponse", open=False):
                right = gr.Textbox(label="La bonne réponse est…", elem_id="correction")
                none = gr.Checkbox(label="Les articles ne répondent pas à cette question")
                send = gr.Button("Envoyer la correction", elem_id="send-correction")
            clear = gr.Button("Effacer la conversation", elem_id="clear")
            chatbot.like(on_like, [shown, chatbot], [feedback_note], api_visibility="private")
            send.click(correct, [shown, right, none], [feedback_note], api_visibility="private")
            clear.click(
                lambda: ([], [], [], ""),
                None,
                [chatbot, chat.chatbot_state, shown, citation],
                api_visibility="private",
            )
        with gr.Tab("Articles", elem_id="articles-tab"):
            status = gr.Markdown(state(), elem_id="index-state")
            table = gr.Dataframe(
                value=rows,
                headers=["id", "titre", "date", "passages", "indexé le (UTC)"],
                column_widths=["22%", "46%", "9%", "8%", "15%"],
                wrap=True,
                interactive=False,
                elem_id="articles",
            )
            chosen = gr.Dropdown(
                choices=chooser["choices"],
                label="Article (à lire, remplacer ou retirer)",
                elem_id="chosen",
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
                    replace_button = gr.Button(
                        "Remplacer l'article choisi par le fichier", elem_id="replace"
                    )
                    remove_button = gr.Button(
                        "Retirer l'article choisi", variant="stop", elem_id="remove"
                    )
            with gr.Accordion("Coller un texte", open=False, visible=writable):
                paste_title = gr.Textbox(label="Titre", elem_id="paste-title")
                paste_text = gr.Textbox(label="Texte de l'article", lines=8, elem_id="paste-text")
                paste_button = gr.Button("Ajouter ce texte", elem_id="paste")
            message = gr.Markdown(elem_id="library-message")
            reading = gr.Markdown(elem_id="article-view")
            report = gr.JSON(visible=False)
            listing = [table, chosen, only, status]
            chosen.change(show, [chosen], [reading], api_visibility="private")
            add_button.click(
                add_files,
                [files],
                [message, *listing, report],
                api_name="add",
                api_visibility="public" if writable else "private",
                concurrency_limit=CONCURRENCY,
            )
            for button, fn, inputs in (
                (replace_button, replace_chosen, [chosen, files]),
                (remove_button, remove_chosen, [chosen]),
                (paste_button, add_text, [paste_title, paste_text]),
            ):
                button.click(
                    fn,
                    inputs,
                    [message, *listing],
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
