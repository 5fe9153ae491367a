"""Text pipeline: normaliser, PII masking, jieba tokenizer."""
import os
import pickle
import random
import re

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from foundation.errors import EmptyText, InvalidInput, TextTooLong
from index.text import Normalizer, Tokenizer, get_tokenizer, mask_pii, normalize
from index.text.pii import id_checksum_ok, luhn_ok

normalizer = Normalizer()


def test_full_width_traditional_controls_whitespace():
    assert normalize("  臺北市　ＡＢＣ１２３\u200b\x07 公積金  ") == "台北市 ABC123 公积金"
    assert normalize("停電了\n\n\t怎麼辦") == "停电了 怎么办"


def test_validate_errors_name_the_problem():
    n = Normalizer(max_chars=10)
    with pytest.raises(TextTooLong, match="11 characters; the limit is 10"):
        n.validate("一" * 11)
    with pytest.raises(EmptyText):
        n.validate(" \u200b\t ")
    with pytest.raises(InvalidInput, match="got int"):
        n.validate(12)
    assert n.validate(" 醫保 ") == "医保"


@hsettings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_is_idempotent_and_never_raises(text):
    once = normalizer(text)
    assert normalizer(once) == once


def _id_number(rng):
    body = f"{rng.randint(110000, 659999)}{rng.randint(1950, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def _card_number(rng, length=16):
    digits = [rng.randint(0, 9) for _ in range(length - 1)]
    for check in range(10):
        if luhn_ok("".join(map(str, digits + [check]))):
            return "".join(map(str, digits + [check]))


pii_values = st.randoms(use_true_random=False).map(lambda rng: rng.choice([
    f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}",
    _id_number(rng),
    _card_number(rng, rng.choice([16, 19])),
    f"0{rng.randint(10, 999)}-{rng.randint(1000000, 99999999)}",
]))


@hsettings(max_examples=300, deadline=None)
@given(st.text(alphabet="我家住在海州市电话号码是，。 abc", max_size=20), pii_values,
       st.text(alphabet="请回电谢谢！ ", max_size=10))
def test_masked_output_never_contains_the_original_digits(prefix, value, suffix):
    masked = mask_pii(prefix + value + suffix)
    assert value not in masked
    assert re.sub(r"\D", "", value) not in re.sub(r"\D", "", masked) or len(re.sub(r"\D", "", value)) < 7


def test_masks_keep_the_kind():
    rng = random.Random(1)
    ident = _id_number(rng)
    assert id_checksum_ok(ident)
    text = f"我的手机13812345678，身份证{ident}，邮箱zhang.san@example.com，车牌粤B12345，座机010-62345678"
    masked = mask_pii(text)
    for label in ("[手机号]", "[身份证号]", "[邮箱]", "[车牌号]", "[电话]"):
        assert label in masked
    assert "13812345678" not in masked and ident not in masked


def test_mask_leaves_ordinary_numbers():
    assert mask_pii("2024年3月停水3天，物业费120元") == "2024年3月停水3天，物业费120元"


def test_tokenizer_uses_domain_dictionary_and_synonyms():
    tok = get_tokenizer()
    assert "公积金" in tok.cut("我想提取公积金")
    assert "社会保险" in tok.expand(tok.terms("社保怎么交"))
    assert "的" not in tok.terms("我的医保卡丢了")


def test_tokenizer_survives_pickling_and_is_shared():
    tok = get_tokenizer()
    assert get_tokenizer() is tok
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.cut("居住证办理") == tok.cut("居住证办理")
    assert clone.synonyms == tok.synonyms


def test_tokenizer_does_not_touch_global_jieba(tmp_path):
    import jieba

    d = tmp_path / "dict.txt"
    d.write_text("龘龘测试词 100 n\n", encoding="utf-8")
    Tokenizer(user_dict=d).cut("龘龘测试词")
    assert "龘龘测试词" not in jieba.lcut("龘龘测试词")


def test_subword_terms_split_dictionary_compounds():
    tok = get_tokenizer()
    assert "居住证" not in tok.terms("居住证签注怎么办")
    assert {"居住证", "居住证签注"} <= set(tok.terms("居住证签注怎么办", subwords=True))


def test_synonym_edits_apply_without_rebuilding(tmp_path):
    syn = tmp_path / "synonyms.txt"
    syn.write_text("停水,没水\n", encoding="utf-8")
    tok = Tokenizer(user_dict=None, stopwords=None, synonyms=syn)
    assert tok.expand(["停水"]) == ["停水", "没水"]
    syn.write_text("停水,没水,断水\n", encoding="utf-8")
    os.utime(syn, ns=(1, 1))            # a different mtime, whatever the clock's resolution
    tok._synonyms_checked = 0.0          # skip the once-a-second throttle
    assert tok.expand(["停水"]) == ["停水", "没水", "断水"]
