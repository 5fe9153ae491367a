"""Where a text stops reading as a call and starts reading as a letter.

The urgency rules and the lead/co-handling rules were written and fitted on calls as an
agent types them (every text of their project-written sets is under 100 characters).
Real messages to a city are often letters and petitions of several hundred characters:
background first ("我是…小区的业主"), past events told in passing, one sentence after
another about the same matter. Both modules read a text longer than ``LETTER_CHARS`` as
a letter (docs/dispatch.md, session 14). The lead/co rules also read a titled record
(``index.text.records.has_title``) as one, whatever its length (session 15); urgency
keeps reading short titled records as calls: its letter rule was only measured on long
texts, and missing an emergency costs more than a wrong co-handler.
"""

LETTER_CHARS = 200


def is_letter(text: str) -> bool:
    return len(text) > LETTER_CHARS
