"""The chat page: `python app.py`, then open http://127.0.0.1:7860.

Thin on purpose: it loads one `Assistant` (building the index on first run),
renders its answers as cited excerpts, and exposes two API endpoints for
`gradio_client`: `/chat` (the page's own, Markdown) and `/ask` (the answer as
JSON, the same as `Answer.to_dict()`).

Settings come from `QA_*` environment variables (see README); the server
listens on QA_HOST:QA_PORT (default 127.0.0.1:7860).
"""

from __future__ import annotations

import html
import os
from typing import Any

import gradio as gr

from qa import Answer, Assistant, Excerpt, QAError
from qa.settings import MODES

EXAMPLES = [
    "Quel est le budget du plan IA de l'Occitanie ?",
    "Combien d'emplois compte le numérique en Midi-Pyrénées ?",
    "Where is the Cité numérique near Bordeaux?",
    "Qui a lancé la plateforme French Tech ?",
]


def render(answer: Answer) -> str:
    """Markdown for the chat: one block per excerpt, answering sentences in <mark>."""
    notes = "".join(f"> ⚠️ {html.escape(w)}\n\n" for w in answer.warnings)
    if answer.abstained:
        return notes + f"**Pas de réponse dans ces articles.** {html.escape(answer.reason)}"
    return notes + "\n\n---\n\n".join(
        _render_excerpt(i, e) for i, e in enumerate(answer.excerpts, 1)
    )


def _render_excerpt(number: int, excerpt: Excerpt) -> str:
    c = excerpt.citation
    parts, cursor = [], 0
    for h in excerpt.highlights:
        parts.append(_escape(excerpt.text[cursor : h.start]))
        parts.append(f"<mark>{_escape(excerpt.text[h.start : h.end])}</mark>")
        cursor = h.end
    parts.append(_escape(excerpt.text[cursor:]))
    body = "".join(parts).replace("\n\n", "<br><br>")
    return (
        f"**[{number}] {_escape(c.title)}**  \n"
        f"<small>`{html.escape(c.doc_id)}` · caractères {c.start}–{c.end} · "
        f"passage {c.passage} · pertinence {excerpt.scores.relevance:.2f}</small>\n\n"
        f"{body}"
    )


def _escape(text: str) -> str:
    """Article text shown verbatim: no HTML, no Markdown emphasis or headings."""
    text = html.escape(text, quote=False)
    for ch in "\\*_`#[]|~":
        text = text.replace(ch, "\\" + ch)
    return text


def build_demo(assistant: Assistant) -> gr.Blocks:
    def respond(message: str, history: list[dict[str, Any]], mode: str, k: float) -> str:
        try:
            return render(assistant.ask(message, k=int(k), mode=mode))
        except QAError as err:
            return f"⚠️ {html.escape(str(err))}"

    def ask(question: str, k: int = 5, mode: str = "hybrid") -> dict[str, Any]:
        """The answer to `question` as JSON: excerpts with citations and highlight offsets."""
        try:
            return assistant.ask(question, k=int(k), mode=mode).to_dict()
        except QAError as err:
            raise gr.Error(str(err)) from None

    count = len(assistant.documents)
    with gr.Blocks(title="Questions sur les articles") as demo:
        gr.ChatInterface(
            respond,
            title="Questions sur les articles",
            description=(
                f"Réponses tirées mot pour mot de {count} articles, avec leur source; "
                "la phrase qui répond est surlignée. Aucune phrase n'est inventée."
            ),
            additional_inputs=[
                gr.Radio(list(MODES), value=assistant.settings.mode, label="Recherche"),
                gr.Slider(1, 10, value=assistant.settings.k, step=1, label="Extraits"),
            ],
            examples=[[q, assistant.settings.mode, assistant.settings.k] for q in EXAMPLES],
            api_name="chat",
        )
        gr.api(ask, api_name="ask")
    return demo


def main() -> None:
    assistant = Assistant.load(progress=True)
    demo = build_demo(assistant)
    demo.launch(
        server_name=os.environ.get("QA_HOST", "127.0.0.1"),
        server_port=int(os.environ.get("QA_PORT", "7860")),
    )


if __name__ == "__main__":
    main()
