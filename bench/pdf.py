"""Which library reads French PDFs: pypdf against pdfplumber.

    python -m bench.pdf [--out DIR]

Needs pdfplumber, which the project does not install (pypdf is the one it
uses): `pip install pdfplumber`, and Debian's `chromium`.

No French press PDF ships with this repository and none can be downloaded
here, so the PDFs are made the way a reader makes one: each seed article is
laid out as a news page and printed to PDF by headless Chromium (Debian's
`chromium`), once on one column and once on two justified, hyphenated
columns (the layout of a printed paper). The text each library extracts is
then compared with the article's own text, word by word:

- word recall / precision: the article's words found in the extraction, and
  the extraction's words that are the article's (a word split in two or two
  words glued together count against both);
- accented recall: the same over the words with an accent (a library that
  loses "é" or decomposes it fails there first);
- time per page, median over every page of every PDF.

Extraction goes through `qa.corpus.pdf_paragraphs` when the library is the
one the corpus uses, so the figures are those of the text that is indexed.
"""

from __future__ import annotations

import argparse
import html
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import SEEDS  # noqa: E402

LAYOUTS = {
    "one column": "body { max-width: 40em; }",
    "two columns": "article { column-count: 2; column-gap: 2em; text-align: justify;"
    " hyphens: auto; }",
}
PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><style>
body {{ font-family: "DejaVu Serif", serif; font-size: 11pt; margin: 2cm; }}
h1 {{ font-size: 18pt; }} {layout}</style></head>
<body><h1>{title}</h1><article>{paragraphs}</article></body></html>"""


def print_pdf(chromium: str, html_path: Path, pdf_path: Path) -> None:
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def make_pdfs(folder: Path) -> list[tuple[str, str, Path]]:
    """(layout, article text, pdf) for every seed article and layout."""
    from qa.corpus import load_corpus

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("bench.pdf needs Chromium: apt-get install chromium")
    made = []
    for doc in load_corpus(SEEDS).documents:
        paragraphs = doc.text.split("\n\n")
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs[1:])
        for layout, css in LAYOUTS.items():
            stem = f"{Path(doc.id).stem}-{layout.replace(' ', '-')}"
            page = folder / f"{stem}.html"
            page.write_text(
                PAGE.format(layout=css, title=html.escape(paragraphs[0]), paragraphs=body),
                encoding="utf-8",
            )
            print_pdf(chromium, page, folder / f"{stem}.pdf")
            made.append((layout, doc.text, folder / f"{stem}.pdf"))
    return made


def pages_pypdf(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(path).pages]


def pages_pdfplumber(path: Path) -> list[str]:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


LIBRARIES: dict[str, Callable[[Path], list[str]]] = {
    "pypdf": pages_pypdf,
    "pdfplumber": pages_pdfplumber,
}


def words(text: str) -> Counter[str]:
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    return Counter(w.strip(".,;:!?«»()\"'") for w in text.split() if w.strip(".,;:!?«»()\"'"))


def compare(source: str, extracted: str) -> tuple[float, float, float]:
    """Word recall, word precision and accented-word recall of `extracted`."""
    want, got = words(source), words(extracted)
    common = sum((want & got).values())
    accented = Counter({w: n for w, n in want.items() if any(ord(c) > 127 for c in w)})
    return (
        common / max(1, sum(want.values())),
        common / max(1, sum(got.values())),
        sum((accented & got).values()) / max(1, sum(accented.values())),
    )


def main(argv: list[str] | None = None) -> int:
    from qa.corpus import pdf_paragraphs

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="keep the PDFs in this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        pdfs = make_pdfs(folder)
        pages = sum(len(pages_pypdf(p)) for _, _, p in pdfs)
        print(f"{len(pdfs)} PDFs ({pages} pages) printed by Chromium from {SEEDS.name}/\n")
        print(
            f"{'library':<11} {'layout':<12} {'recall':>7} {'precision':>9} "
            f"{'accented':>8} {'ms/page':>8}"
        )
        for name, extract in LIBRARIES.items():
            for layout in LAYOUTS:
                scores, times = [], []
                for shown, source, path in pdfs:
                    if shown != layout:
                        continue
                    start = time.perf_counter()
                    texts = extract(path)
                    times.append((time.perf_counter() - start) * 1000 / max(1, len(texts)))
                    scores.append(compare(source, "\n\n".join(pdf_paragraphs(texts))))
                mean = [statistics.mean(s[i] for s in scores) for i in range(3)]
                print(
                    f"{name:<11} {layout:<12} {mean[0]:>7.3f} {mean[1]:>9.3f} "
                    f"{mean[2]:>8.3f} {statistics.median(times):>8.1f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
