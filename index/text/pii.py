"""PII masking for logs, stored feedback and training exports.

Masks keep the kind (``[手机号]``, ``[身份证号]`` ...) so the text stays readable.
ID numbers are masked only when the checksum is valid and bank cards only when
Luhn-valid, so order numbers and amounts are left alone; any remaining run of
11+ digits is masked as ``[号码]`` so no long number survives.

Numbers are found as people write them: Arabic, full-width or Chinese digits
(``一三八``, ``幺`` for 1, ``〇``/``零`` for 0, 大写 ``壹贰叁``; mobile numbers also
mixed, ``138一二三四5678``). Invisible characters between digits (zero-width, bidi
controls, soft hyphen) are skipped anywhere; one space or dash may sit between
any two digits of a mobile, card or other long number (as before); where people
group a number (mobile 3-4-4, ID 6-8-4) dots and runs of marks are allowed too
(``138.1234.5678``, ``138 - 1234 - 5678``, ``110105 19491231 002X``), so dotted
dates such as ``1971.12-1972.1`` stay. A Chinese numeral next to an Arabic number
(``周一13812345678``, ``…5678三、``) does not join it.

Everything is a precompiled regular expression; Python code runs only per match.
:func:`mask_field` is the entry point for optional stored fields (feedback side
fields); :func:`safe_token` says whether a client-supplied id may be logged as it is.
"""
from __future__ import annotations

import re

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_checksum_ok(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# ------------------------------------------------------------------ building blocks
# Chinese digits by value (simplified, traditional, 大写, and 幺/〇/零/○ as said on the phone).
_CN_BY_VALUE = ("〇零○", "一幺壹", "二两兩贰貳", "三叁參", "四肆", "五伍", "六陆陸", "七柒",
                "八捌", "九玖")
_CN = "".join(_CN_BY_VALUE)
_TO_ASCII = str.maketrans({c: str(v) for v, cs in enumerate(_CN_BY_VALUE) for c in cs})
_D = rf"[\d{_CN}]"                         # one digit: any Unicode decimal digit or a Chinese one
_ONE = f"[1１{_CN_BY_VALUE[1]}]"
_THREE_TO_NINE = "[3-9３-９" + "".join(_CN_BY_VALUE[3:]) + "]"
_FIRST_ID_CN = "[" + "".join(_CN_BY_VALUE[1:]) + "]"

# Invisible between digits: soft hyphen, Arabic letter mark, Mongolian vowel separator,
# zero-width space/joiners, LRM/RLM, bidi embeddings/overrides/isolates, word joiner and
# invisible operators, BOM/zero-width no-break space.
_INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_SPACE = " \t\u00a0\u2000-\u200a\u202f\u205f\u3000"
_DASH = r"\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
_DOT = ".\u00b7\u2027\u30fb\uff0e\u3002"
_Z = f"[{_INVISIBLE}]*"
# Gaps between two digits, each written so that it parses one way only (no backtracking
# blow-up): a soft gap is invisible characters around at most one space or dash (the old
# ``[ -]?``); a group gap also takes dots and up to three marks (``138 - 1234``, ``138.1234``).
# Group gaps are allowed only where people group a number (mobile 3-4-4, ID 6-8-4), so
# dotted dates such as ``1971.12-1972.1`` are not read as a phone number.
_GS = f"{_Z}(?:[{_SPACE}{_DASH}]{_Z})?"
_GG = f"{_Z}(?:[{_SPACE}{_DASH}{_DOT}]{_Z}){{0,3}}"
_SOFT_MARK = f"[{_SPACE}{_DASH}]"


def _digits_with(digit: str, n: int, gap: str = _GS) -> str:
    """``n`` digits with ``gap`` between them."""
    return f"{digit}(?:{gap}{digit}){{{n - 1}}}"


# Each number pattern begins with the class of its first digit, so a search skips from
# candidate to candidate in C; the boundary checks come right after that first character
# (``(?<!\d.)``: the character before it is no digit). A number starts where no digit
# precedes it; a Chinese digit before an Arabic (or '+') start does not count
# (周一13812345678), nor after an Arabic end (13812345678三次).
_END = rf"(?!\d)(?:(?![{_CN}])|(?<=\d))"
_CN_D = f"[{_CN}]"
_AR = r"\d"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# 18 digits, Arabic or Chinese (not mixed), grouped 6-8-4 or not at all (invisible
# characters anywhere); the checksum is checked. Not the tail of a longer spaced run.
_ID = re.compile(
    rf"[1-9１-９{_FIRST_ID_CN[1:-1]}]"
    rf"(?:(?<=[1-9１-９])(?<!\d.)(?<!\d{_SOFT_MARK}.){_Z}{_digits_with(_AR, 5, _Z)}{_GG}"
    rf"{_digits_with(_AR, 8, _Z)}{_GG}{_digits_with(_AR, 3, _Z)}{_Z}[\dXx](?!\d)"
    rf"|(?<={_FIRST_ID_CN})(?<![\d{_CN}].){_Z}{_digits_with(_CN_D, 5, _Z)}{_GG}"
    rf"{_digits_with(_CN_D, 8, _Z)}{_GG}{_digits_with(_CN_D, 3, _Z)}{_Z}[Xx{_CN}](?![\d{_CN}]))")
# 13-19 Arabic digits, and the whole run: a 22-digit run of two landlines is not a card.
_CARD = re.compile(rf"\d(?<!\d.)(?<!\d{_SOFT_MARK}.)(?:{_GS}\d){{12,18}}(?!{_GS}\d)")
# 1[3-9] + 9 digits, grouped 3-4-4 or not; Arabic, Chinese or a mix; optional +86.
_AFTER_ONE = (rf"{_GS}{_THREE_TO_NINE}{_GS}{_D}{_GG}{_digits_with(_D, 4)}{_GG}"
              rf"{_digits_with(_D, 4)}{_END}")
_MOBILE = re.compile(
    rf"[+＋8８1１{_CN_BY_VALUE[1]}]"
    rf"(?:(?<=[+＋])(?<!\d.)[8８]{_Z}[6６]{_GG}{_ONE}{_AFTER_ONE}"
    rf"|(?<=[8８])(?<!\d.){_Z}[6６]{_GG}{_ONE}{_AFTER_ONE}"
    rf"|(?<=[1１])(?<!\d.){_AFTER_ONE}"
    rf"|(?<=[{_CN_BY_VALUE[1]}])(?<![\d{_CN}].){_AFTER_ONE})")
# 0 + area code + 7-8 digits, or 3-4 digits, a dash, 7-8 digits.
_LANDLINE = re.compile(
    rf"\d(?<!\d.)(?:(?<=0)\d{{2,3}}{_GS}\d{{7,8}}(?!\d)|\d{{2,3}}[{_DASH}]\d{{7,8}}(?!\d))")
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领]"
    r"\s?[A-HJ-NP-Z]\s?(?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[挂学警港澳])"
)
# Any other run of 11+ digits, Arabic or Chinese (a Chinese numeral after an Arabic number,
# as in "...5678三、", is not part of it).
_LONG_DIGITS = re.compile(
    rf"{_D}(?:(?<=\d)(?:{_GS}\d){{10,}}|(?<={_CN_D})(?:{_GS}{_CN_D}){{10,}})")
# Every digit pattern above needs 10+ digits joined by gaps that _GG covers, so a text
# without such a run skips them all (one scan that jumps from digit to digit).
_CANDIDATE = re.compile(rf"{_D}(?:{_GG}{_D}){{9}}")
_NOT_DIGIT = re.compile(r"[^\dXx]")
_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _digits(text: str) -> str:
    """The digits of a matched number as ASCII (Chinese digits converted), X kept."""
    return _NOT_DIGIT.sub("", text.translate(_TO_ASCII))


def _sub_checked(pattern, check, label, text):
    def repl(m):
        return label if check(_digits(m.group(0))) else m.group(0)
    return pattern.sub(repl, text)


def mask_pii(text: str) -> str:
    if not text:
        return text
    text = _EMAIL.sub("[邮箱]", text)
    numbers = _CANDIDATE.search(text) is not None
    if numbers:
        text = _sub_checked(_ID, id_checksum_ok, "[身份证号]", text)
        text = _MOBILE.sub("[手机号]", text)
        text = _sub_checked(_CARD, luhn_ok, "[银行卡号]", text)
        text = _LANDLINE.sub("[电话]", text)
    text = _PLATE.sub("[车牌号]", text)
    return _LONG_DIGITS.sub("[号码]", text) if numbers else text


def safe_token(value) -> bool:
    """True for a short opaque token that may be logged and stored as it is: 1-64
    characters of ``A-Z a-z 0-9 . _ -`` in which :func:`mask_pii` finds nothing
    (so ``call-13812345678`` is not one)."""
    return (isinstance(value, str) and _TOKEN.fullmatch(value) is not None
            and mask_pii(value) == value)


def mask_field(value):
    """:func:`mask_pii` for an optional stored or logged field: ``None`` stays ``None``,
    anything else is masked as text (a non-string is turned into one first)."""
    if value is None:
        return None
    return mask_pii(value if isinstance(value, str) else str(value))
