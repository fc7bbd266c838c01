"""Load a folder of articles into `Document`s: decode, convert, normalise, clean.

This is the only place text is normalised. Every later offset points into
`Document.text`, so nothing downstream may rewrite it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from qa.errors import CorpusError
from qa.text import split_sentences

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
TITLE_CHARS = 100


@dataclass(frozen=True)
class Document:
    """One article. `text` is normalised and cleaned; paragraphs are separated by a blank line."""

    id: str
    title: str
    text: str
    path: str
    sha256: str
    date: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class Corpus:
    documents: tuple[Document, ...]
    skipped: tuple[SkippedFile, ...]


def load_corpus(folder: Path | str) -> Corpus:
    """Load every article file under `folder` (recursively, sorted by path).

    Unreadable files are skipped with a warning naming them; a folder that is
    missing or holds no usable article is a `CorpusError`.
    """
    root = Path(folder)
    if not root.is_dir():
        raise CorpusError(f"corpus folder not found: {root}")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
    )
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for path in files:
        doc_id = path.relative_to(root).as_posix()
        try:
            documents.append(load_document(path, doc_id))
        except CorpusError as err:
            log.warning("skipped %s: %s", path, err)
            skipped.append(SkippedFile(str(path), str(err)))
    if not documents:
        kinds = ", ".join(SUFFIXES)
        raise CorpusError(f"no readable article ({kinds}) in corpus folder {root}")
    return Corpus(tuple(documents), tuple(skipped))


def load_document(path: Path, doc_id: str) -> Document:
    """Read one file; raise `CorpusError` when it is empty, binary or not UTF-8."""
    data = path.read_bytes()
    if b"\x00" in data:
        raise CorpusError("binary file (contains NUL bytes)")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CorpusError(f"not valid UTF-8 (byte {err.start})") from None
    title_hint = None
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        raw, title_hint = html_to_text(raw)
    elif suffix in (".md", ".markdown"):
        raw = markdown_to_text(raw)
    paragraphs, date = clean(normalize(raw).split("\n"))
    if not paragraphs:
        raise CorpusError("empty (no text)")
    text = "\n\n".join(paragraphs)
    return Document(
        id=doc_id,
        title=title_hint or make_title(paragraphs[0]),
        text=text,
        path=str(path),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        date=date,
    )


def normalize(text: str) -> str:
    """NFKC (U+2005 and no-break spaces become plain spaces, "m²" becomes "m2"),
    one space between words, no blank padding, Unix line ends."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(lines)


# Scraping leftovers at the end of a line: the `"/>` of a meta tag.
_TAG_TAIL = re.compile(r'\s*"?\s*/?>\s*$')
# A leading "date 2019-09" stamp, kept as metadata.
_DATE = re.compile(r"^date\s+(\d{4}-\d{2}(?:-\d{2})?)\s+", re.IGNORECASE)
# Trailing page furniture: comment counters and "read also" links.
_FURNITURE = re.compile(
    r"^(?:\d+\s+comment(?:aire)?s?\s*:?|(?:à|a)\s+lire(?:\s+aussi)?\s*:.*|lire aussi\s*:.*)$",
    re.IGNORECASE,
)
_MIN_REPEAT = 30


def clean(lines: list[str]) -> tuple[list[str], str | None]:
    """Remove what scraping left behind; return the paragraphs and a date stamp.

    - a `"/>` after a title;
    - a leading "date YYYY-MM" stamp (returned as the date);
    - a paragraph repeated right after itself (the title printed twice);
    - a paragraph of 30+ characters that repeats part of an earlier one
      (a photo caption copied from the text);
    - trailing "0 commentaires:" counters and "A lire:" links.
    """
    date = None
    paragraphs: list[str] = []
    for line in lines:
        line = _TAG_TAIL.sub("", line).strip()
        if not line:
            continue
        if not paragraphs and date is None and (match := _DATE.match(line)):
            date = match.group(1)
            line = line[match.end() :]
        core = line.rstrip(",;: ")
        if len(core) >= _MIN_REPEAT and any(core in earlier for earlier in paragraphs):
            log.debug("dropped repeated paragraph: %.60s", line)
            continue
        if paragraphs and line == paragraphs[-1]:
            continue
        paragraphs.append(line)
    while paragraphs and _FURNITURE.match(paragraphs[-1]):
        paragraphs.pop()
    return paragraphs, date


def make_title(first_paragraph: str) -> str:
    """The first paragraph when it reads as a headline (one sentence, no final
    period, short); otherwise the start of its first sentence."""
    sentences = split_sentences(first_paragraph)
    first = first_paragraph[sentences[0].start : sentences[0].end]
    headline = len(sentences) == 1 and len(first) <= 200 and not first.endswith(".")
    if headline or len(first) <= TITLE_CHARS:
        return first
    cut = first.rfind(" ", 0, TITLE_CHARS)
    return first[: cut if cut > 0 else TITLE_CHARS].rstrip(" ,;:") + "…"


# --- other formats -----------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    "p div br li h1 h2 h3 h4 h5 h6 tr blockquote section article header footer figcaption "
    "title pre".split()
)
_SKIP_TAGS = frozenset("script style noscript template nav svg head".split())


class _HTMLText(HTMLParser):
    """Collects visible text, one line per block element, and the page headline."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.heading: list[str] | None = None
        self.h1 = ""
        self.title = ""
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in _SKIP_TAGS:
            self.skip += 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")
        if tag == "h1" and not self.h1:
            self.heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in _SKIP_TAGS and self.skip:
            self.skip -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")
        if tag == "h1" and self.heading is not None:
            self.h1 = " ".join("".join(self.heading).split())
            self.heading = None

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        elif not self.skip:
            self.parts.append(data)
            if self.heading is not None:
                self.heading.append(data)


def html_to_text(html: str) -> tuple[str, str | None]:
    """Visible text of an HTML page and its headline (<h1>, else <title>)."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    title = parser.h1 or " ".join(parser.title.split())
    return "".join(parser.parts), unicodedata.normalize("NFKC", title) or None


_MD_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_LINE_PREFIX = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|`)")


def markdown_to_text(markdown: str) -> str:
    """Markdown without its markup: headings, quotes, bullets, links, emphasis."""
    lines = []
    for line in markdown.split("\n"):
        line = _MD_LINE_PREFIX.sub("", line)
        line = _MD_IMAGE_OR_LINK.sub(r"\1", line)
        lines.append(_MD_EMPHASIS.sub("", line))
    return "\n".join(lines)
