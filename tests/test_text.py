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


def test_loading_jieba_writes_no_debug_lines():
    """A fresh process with DEBUG logging (as `hotline -v`): jieba's own
    "Building prefix dict" lines stay out of the log."""
    import subprocess
    import sys

    code = ("import logging; logging.basicConfig(level=logging.DEBUG);"
            "from index.text import Tokenizer; print(Tokenizer().cut('社保卡丢了'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0 and "社保卡" in done.stdout, done.stderr
    assert "prefix dict" not in done.stderr and "jieba" not in done.stderr, done.stderr


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


# ---------------------------------------------------------------- numbers as people write them
# Chinese digits as callers say them (幺 for 1, 〇/零 for 0) and as forms write them (大写).
_CN_DIGITS = {"0": "〇零", "1": "一幺", "2": "二两", "3": "三叁", "4": "四", "5": "五",
              "6": "六", "7": "七", "8": "八", "9": "九"}
_ALL_DIGIT_CHARS = "".join(_CN_DIGITS.values()) + "○壹贰貳兩參肆伍陆陸柒捌玖"
_TO_ASCII = str.maketrans({**{c: d for d, cs in _CN_DIGITS.items() for c in cs},
                           **{c: str(i) for i, c in enumerate("０１２３４５６７８９")},
                           "○": "0", "壹": "1", "贰": "2", "貳": "2", "兩": "2", "參": "3",
                           "肆": "4", "伍": "5", "陆": "6", "陸": "6", "柒": "7", "捌": "8",
                           "玖": "9"})
_ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


def _digits_in(text: str) -> str:
    """Every digit left in ``text``, Chinese and full-width digits included, as ASCII."""
    return re.sub(r"[^0-9]", "", text.translate(_TO_ASCII))


@pytest.mark.parametrize("written", [
    "13812345678", "138 1234 5678", "138-1234-5678", "138.1234.5678", "138-1234 5678",
    "138. 1234 -5678", "138 - 1234 - 5678", "1 3 8 1 2 3 4 5 6 7 8", "138。1234。5678",
    "138\u30001234\u30005678",
    "138\u200b1234\u200b5678", "1\u200c3\u200d8\u20601234\ufeff5678", "138\u200b\u200b12345678",
    "138\u202e1234\u202c5678", "一三八一二三四五六七八", "幺三八〇〇一三四五六七", "一三八零零幺二三四五六",
    "幺三八 幺二三四 五六七八", "一三八-一二三四-五六七八", "138一二三四5678", "+86 138.1234.5678",
    "+86一三八一二三四五六七八", "１３８１２３４５６７８", "１３８．１２３４．５６７８",
])
def test_mobile_numbers_are_masked_in_every_written_form(written):
    assert mask_pii(f"我的电话是{written}，请回电") == "我的电话是[手机号]，请回电"


@pytest.mark.parametrize("written", [
    "11010519491231002X", "110105 19491231 002X", "110105-19491231-002x", "110105.19491231.002X",
    "110105\u200b19491231\u200b002X", "一一〇一〇五一九四九一二三一〇〇二X",
])
def test_id_number_with_separators_is_masked_as_an_id_not_a_phone(written):
    assert mask_pii(f"身份证{written}，谢谢") == "身份证[身份证号]，谢谢"


def test_separated_long_numbers_and_cards_leave_no_digits():
    card = _card_number(random.Random(3), 16)
    spaced = " ".join(card[i:i + 4] for i in range(0, 16, 4))
    assert mask_pii(f"卡号{spaced}。") == "卡号[银行卡号]。"
    assert mask_pii(f"卡号{spaced.replace(' ', chr(0x200b))}。") == "卡号[银行卡号]。"
    # a long number split by zero-width characters is still a long number
    assert mask_pii("订单号1234\u200b5678\u200b9012\u200b3") == "订单号[号码]"
    assert mask_pii("编号一二三四五六七八九〇一二") == "编号[号码]"
    # two landlines joined by a space are two landlines, not one card
    assert mask_pii("电话0736-7772222 0736-7772229") == "电话[电话] [电话]"
    # a Chinese numeral after a long number is the next item, not part of the number
    assert mask_pii("单位12345678901三、评审") == "单位[号码]三、评审"


def test_numbers_that_are_not_pii_stay():
    for text in ("2024年3月停水3天，物业费120元", "2023.10.01至2023.10.07停电", "版本1.2.3",
                 "第一次反映，三三两两的人", "一五一十地说了", "周一13812345678打过来",
                 "电话13812345678 2号楼", "12345热线说三天内回复", "1971.12-1972.1在粮店工作",
                 "1986.2-1991.11任副主席", "2019.10.1-2019.10.5放假"):
        expected = text.replace("13812345678", "[手机号]")
        assert mask_pii(text) == expected


# Chinese text with no digit at all (Chinese digits excluded), and words that hold a digit
# character but are no number.
_HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF).filter(
    lambda c: c not in _ALL_DIGIT_CHARS)
_PUNCT = st.sampled_from(list("，。！？、：；（）“”… "))
_WORDS = st.sampled_from(["一些", "第三次", "十一月", "三三两两地", "一五一十", "一模一样", "零下",
                          "幺妹", "四五天", "两个"])
plain_chinese = st.lists(st.one_of(_HAN, _PUNCT), max_size=30).map("".join)
chinese_with_digit_words = st.lists(st.one_of(_HAN, _PUNCT, _WORDS), max_size=30).map("".join)

# Between any two digits: one space or dash, invisible characters around it. Where people
# group a mobile number (3-4-4): dots and runs of marks too.
_SOFT_SEPARATORS = ["", " ", "-", "\u3000", "—", *_ZERO_WIDTH, "\u200b-\u200b"]
_GROUP_SEPARATORS = [*_SOFT_SEPARATORS, ".", " - ", ". ", "．", "。", "\u200b.\u200b"]


@st.composite
def written_mobiles(draw):
    """(the 11 ASCII digits, the number as written): Arabic, full-width, Chinese or mixed
    digits; no separators, 3-4-4 groups, or soft separators anywhere; optionally +86."""
    digits = "1" + draw(st.sampled_from("3456789")) + "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
    style = draw(st.sampled_from(["arabic", "chinese", "mixed", "fullwidth"]))

    def glyph(d):
        form = style if style != "mixed" else draw(st.sampled_from(["arabic", "chinese"]))
        if form == "chinese":
            return draw(st.sampled_from(_CN_DIGITS[d]))
        return chr(ord("０") + int(d)) if form == "fullwidth" else d

    layout = draw(st.sampled_from(["none", "groups", "every", "random"]))
    sep = draw(st.sampled_from(_GROUP_SEPARATORS if layout == "groups" else _SOFT_SEPARATORS))
    out = glyph(digits[0])
    for i, d in enumerate(digits[1:], start=1):
        if layout == "groups":
            out += sep if i in (3, 7) else ""
        elif layout == "every":
            out += sep
        elif layout == "random":
            out += draw(st.sampled_from(_GROUP_SEPARATORS if i in (3, 7) else _SOFT_SEPARATORS))
        out += glyph(d)
    if draw(st.booleans()):
        out = draw(st.sampled_from(["+86", "+86 ", "86-"])) + out
    return digits, out


@hsettings(max_examples=400, deadline=None)
@given(plain_chinese, written_mobiles(), plain_chinese)
def test_random_mobile_numbers_in_random_chinese_are_masked(prefix, mobile, suffix):
    digits, written = mobile
    masked = mask_pii(prefix + written + suffix)
    assert masked == prefix + "[手机号]" + suffix
    left = _digits_in(masked)
    assert not any(digits[i:i + 3] in left for i in range(len(digits) - 2))


@hsettings(max_examples=300, deadline=None)
@given(chinese_with_digit_words)
def test_chinese_text_without_numbers_is_unchanged(text):
    assert mask_pii(text) == text


NO_CONTENT = ["？？！！。。", "……", "!!!", "😀👍🎉", " \t！ 。\u3000？ ", "---", "【】（）", "~@#%^&*"]


@pytest.mark.parametrize("text", NO_CONTENT)
def test_text_without_letters_digits_or_cjk_is_refused(text):
    from foundation.errors import NoContent
    from index.text import has_content

    assert not has_content(normalize(text))
    with pytest.raises(NoContent, match="no letter, digit or Chinese character") as info:
        Normalizer().validate(text)
    assert info.value.code == "no_content" and isinstance(info.value, InvalidInput)


def test_one_letter_digit_or_cjk_character_is_content():
    from index.text import has_content

    for text in ("a", "1", "路", "？？路灯？？", "①", "™", "ⅷ", "ǅ"):
        assert has_content(normalize(text)), text
        assert Normalizer().validate(text)
    # Empty stays empty_text (its own code), not no_content.
    with pytest.raises(EmptyText):
        Normalizer().validate("  ")


def test_has_content_is_unicode_letters_and_numbers():
    """One definition: a character of Unicode category L* or N*."""
    import sys
    import unicodedata

    from index.text import has_content

    for cp in range(0, sys.maxunicode + 1, 7):
        ch = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        assert has_content(ch) == (unicodedata.category(ch)[0] in "LN"), hex(cp)


def test_segmentation_cache_serves_normalised_and_plain_text_alike():
    """/v1/analyze segments one text twice (search terms from the boundary's
    NormalizedText, evidence edges from a plain str): the second must be a hit."""
    from index.text import Normalizer, get_tokenizer

    tok = get_tokenizer()
    text = Normalizer()("我家楼下的路灯坏了好几天了，晚上很黑" + "一" * 7)
    assert type(text) is not str
    before = tok._segment.cache_info()
    tok.terms(text)
    tok.cut(str(text))
    after = tok._segment.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
