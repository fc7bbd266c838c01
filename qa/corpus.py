"""Load a folder of articles into `Document`s: decode, convert, normalise, clean.

This is the only place text is normalised. Every later offset points into
`Document.text`, so nothing downstream may rewrite it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import CorpusError
from qa.text import split_sentences

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
TITLE_CHARS = 100


@dataclass(frozen=True)
class Document:
    """One article. `text` is normalised and cleaned; paragraphs are separated by a blank line."""

    id: str
    title: str
    text: str
    path: str
    sha256: str
    #: YYYY-MM or YYYY-MM-DD: a leading "date …" stamp, or an HTML page's metadata.
    date: str | None = None
    #: The byline, when an HTML page names one.
    author: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class Corpus:
    documents: tuple[Document, ...]
    skipped: tuple[SkippedFile, ...]
    #: Each file's stat stamp (size, inode, mtime and ctime in ns) when it
    #: was read, by path: `load_corpus(previous=...)` reads again only files
    #: whose stamp changed.
    stamps: dict[str, tuple[int, int, int, int]] = field(default_factory=dict, compare=False)


def _stamp(path: Path) -> tuple[int, int, int, int]:
    info = path.stat()
    return (info.st_size, info.st_ino, info.st_mtime_ns, info.st_ctime_ns)


def load_corpus(folder: Path | str, previous: Corpus | None = None) -> Corpus:
    """Load every article file under `folder` (recursively, sorted by path).

    With `previous` (this folder as loaded before), a file whose size,
    inode, modification and change times are the ones it had then is not
    read again: a running page that takes one upload into a collection of
    thousands reads that one file, not all of them.

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
    old_stamps = previous.stamps if previous is not None else {}
    read_docs = {d.path: d for d in previous.documents} if previous is not None else {}
    read_skips = {f.path: f for f in previous.skipped} if previous is not None else {}
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    stamps = {}
    for path in files:
        doc_id = path.relative_to(root).as_posix()
        # Stamped before it is read: a write in between shows at the next load.
        stamp = stamps[str(path)] = _stamp(path)
        if old_stamps.get(str(path)) == stamp:
            if (doc := read_docs.get(str(path))) is not None and doc.id == doc_id:
                documents.append(doc)
                continue
            if (skip := read_skips.get(str(path))) is not None:
                skipped.append(skip)
                continue
        try:
            documents.append(load_document(path, doc_id))
        except CorpusError as err:
            log.warning("skipped %s: %s", path, err)
            skipped.append(SkippedFile(str(path), str(err)))
    if not documents:
        kinds = ", ".join(SUFFIXES)
        raise CorpusError(f"no readable article ({kinds}) in corpus folder {root}")
    return Corpus(tuple(documents), tuple(skipped), stamps)


def load_document(path: Path, doc_id: str) -> Document:
    """Read one file; raise `CorpusError` when it is empty, binary, not UTF-8,
    an HTML page with no article or a PDF with no text."""
    data = path.read_bytes()
    if not data.strip():
        raise CorpusError("empty file (no text)")
    page = None
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        raw = "\n".join(pdf_paragraphs(pdf_pages(data)))
    else:
        if b"\x00" in data:
            raise CorpusError("binary file (contains NUL bytes)")
        try:
            raw = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise CorpusError(f"not valid UTF-8 (byte {err.start})") from None
        if suffix in (".html", ".htm"):
            page = html_to_text(raw)
            raw = page.text
        elif suffix in (".md", ".markdown"):
            raw = markdown_to_text(raw)
    paragraphs, date = clean(normalize(raw).split("\n"))
    if not paragraphs:
        raise CorpusError("empty (no text)")
    text = "\n\n".join(paragraphs)
    return Document(
        id=doc_id,
        title=(page and page.title) or make_title(paragraphs[0]),
        text=text,
        path=str(path),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        date=(page and page.date) or date,
        author=page and page.author,
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

#: The page markup that makes an HTML fragment a page trafilatura reads.
_HTML_ROOT = re.compile(r"<\s*(?:html|body)\b", re.IGNORECASE)


@dataclass(frozen=True)
class PageText:
    """What `html_to_text` found in a news page: the article's own text (one
    paragraph per line, menus, share buttons, comments and footers left out)
    and, when the page says them, its headline, date (YYYY-MM-DD) and author."""

    text: str
    title: str | None
    date: str | None
    author: str | None


def html_to_text(html: str) -> PageText:
    """The article in an HTML page, extracted with trafilatura (the library
    made for news pages: main text, then title, date and author from the
    page's metadata). Precision is favoured: a menu or a list of links is
    left out rather than indexed as text. The date is only taken from the
    page's markup, never guessed from a year in the text. A page with no article in it (only
    scripts, menus or nothing) is a `CorpusError`."""
    import trafilatura  # imported here: it costs half a second and only HTML needs it

    if not _HTML_ROOT.search(html):
        html = f"<html><body>{html}</body></html>"
    found = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if found is None or not (found.text or "").strip():
        raise CorpusError("no article text found in the HTML page")

    def meta(value: str | None) -> str | None:
        value = " ".join(unicodedata.normalize("NFKC", value or "").split())
        return value or None

    return PageText(found.text, meta(found.title), meta(found.date), meta(found.author))


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page of a PDF, read with pypdf. pypdf rather than
    pdfplumber: on French articles printed to PDF both keep every word and
    accent on one column, but on two columns pdfplumber interleaves lines of
    the two and pypdf keeps each column whole, in half the time
    (`python -m bench.pdf`)."""
    from pypdf import PdfReader

    if not data.startswith(b"%PDF"):
        raise CorpusError("not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise CorpusError("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except CorpusError:
        raise
    except Exception as err:  # pypdf raises many kinds on a damaged file
        raise CorpusError(f"not a readable PDF ({type(err).__name__}: {err})") from None
    if not any(p.strip() for p in pages):
        raise CorpusError("the PDF holds no text (a scanned page needs OCR first)")
    return pages


_LINE_END_HYPHEN = re.compile(r"(\w+)-\n(\w+)")
_SENTENCE_END = '.!?»:…"'


def pdf_paragraphs(pages: list[str]) -> list[str]:
    """Paragraphs from the text of a PDF's pages, which comes as printed
    lines: a word hyphenated at a line end is joined again ("candi-" +
    "dature"; "start-" + "up" keeps its hyphen when the article writes
    "start-up" elsewhere), lines are joined into paragraphs, and a paragraph
    ends at a blank line or at a line that ends a sentence well short of the
    page's usual line length."""
    text = "\n".join(normalize(page) for page in pages)
    lines = text.split("\n")
    widths = sorted(len(line) for line in lines if line)
    full = widths[len(widths) // 2] if widths else 0

    def join(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        kept = f"{left}-{right}" in text or right[:1].isupper()
        return f"{left}-{right}" if kept else left + right

    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        if paragraphs[-1] and (not line or (line[-1] in _SENTENCE_END and len(line) < 0.8 * full)):
            paragraphs.append([])
    return [_LINE_END_HYPHEN.sub(join, "\n".join(p)).replace("\n", " ") for p in paragraphs if p]


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
