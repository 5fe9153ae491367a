"""Where a text stops reading as a call and starts reading as a letter.

The urgency rules and the lead/co-handling rules were written and fitted on calls as an
agent types them (every text of their project-written sets is under 100 characters).
Real messages to a city are often letters and petitions of several hundred characters:
background first ("我是…小区的业主"), past events told in passing, one sentence after
another about the same matter. Both modules read a text longer than ``LETTER_CHARS`` as
a letter (docs/dispatch.md, session 14), and so is a text that opens with a salutation to an
official whatever its length (session 15). The lead/co rules also read a titled record
(``index.text.records.has_title``) as one, whatever its length (session 15); urgency
keeps reading short titled records as calls: its letter rule applied to the urgency sets'
calls would drop urgent recall on test3 / test4 from 0.956 / 0.948 to 0.922 / 0.896, and a
filed work order's title is often the emergency itself.
"""
import re

LETTER_CHARS = 200
# A text that opens by addressing an official ("王书记：您好！", "尊敬的领导：", "书记好，")
# is correspondence however short: agents type what a caller says, not a salutation.
# None of the project's written calls (phone_calls, the compound and urgency sets) or
# its 6,996 demo work orders opens with one; 292 of 1,005 held-out real messages do.
_ADDRESSED = re.compile(
    r"\W*(?:尊敬的[^，,：:！!。\s]{0,12}|[\u4e00-\u9fff]{0,6}?"
    r"(?:书记|市长|县长|区长|局长|厅长|主任|领导|省长|部长|委员))(?:们)?\s*"
    r"(?:[:：,，!！]|你好|您好|好[,，!！:：\s])")


def addressed(text: str) -> bool:
    """Whether ``text`` opens by addressing an official (a letter's salutation)."""
    return _ADDRESSED.match(text) is not None


def is_letter(text: str) -> bool:
    return len(text) > LETTER_CHARS or addressed(text)
