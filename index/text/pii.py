"""PII masking for logs, stored feedback and training exports.

Masks keep the kind (``[手机号]``, ``[身份证号]`` ...) so the text stays readable.
ID numbers are masked only when the checksum is valid and bank cards only when
Luhn-valid, so order numbers and amounts are left alone; any remaining run of
11+ digits is masked as ``[号码]`` so no long number survives.
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


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_ID = re.compile(r"(?<![0-9])[1-9]\d{16}[0-9Xx](?![0-9])")
_CARD = re.compile(r"(?<![0-9])\d(?:[ -]?\d){12,18}(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d){8}(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(?:0\d{2,3}[- ]?)\d{7,8}(?![0-9])|(?<![0-9])\d{3,4}-\d{7,8}(?![0-9])")
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领]"
    r"\s?[A-HJ-NP-Z]\s?(?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[挂学警港澳])"
)
_LONG_DIGITS = re.compile(r"\d(?:[ -]?\d){10,}")


def _sub_checked(pattern, check, label, text):
    def repl(m):
        return label if check(re.sub(r"[ -]", "", m.group(0))) else m.group(0)
    return pattern.sub(repl, text)


def mask_pii(text: str) -> str:
    if not text:
        return text
    text = _EMAIL.sub("[邮箱]", text)
    text = _sub_checked(_ID, id_checksum_ok, "[身份证号]", text)
    text = _MOBILE.sub("[手机号]", text)
    text = _sub_checked(_CARD, luhn_ok, "[银行卡号]", text)
    text = _LANDLINE.sub("[电话]", text)
    text = _PLATE.sub("[车牌号]", text)
    return _LONG_DIGITS.sub("[号码]", text)
