"""Undoing the cheap disguises a solution can wear before the output guard compares it.

A student who wants the graded answer asks the model to dress it up: a zero-width space
inside each keyword, Cyrillic look-alike letters, numbered lines (``1. def …``), a REPL
prompt before every line, the code commented out, redundant parentheses, or the whole
thing base64- or hex-encoded, written as one escaped string or as a list of its lines.
The same normalisation is applied to the protected cells and to answers, so it only has
to be consistent, not faithful: a line is reduced to what its code says.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

#: Latin look-alikes (Cyrillic and Greek) that NFKC leaves alone.
_CONFUSABLES = str.maketrans(
    "аеіјоорсухѕԁһӏԛԝАВЕЅІЈКМНОРСТХУοαεικνρτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeijoopcyxsdhlqwABESIJKMHOPCTXYoaeiknptuxABEZHIKMNOPTYX",
)
#: What precedes a line without being code: line numbers ("1.", "12)", "3:", "4 |"),
#: REPL prompts (">>>", "...", "In [3]:"), Markdown bullets and quotes, comment marks.
_LINE_PREFIX = re.compile(
    r"^[ \t]*(?:(?:>>>|\.\.\.|In \[\d*\]:|Out\[\d*\]:|[Ll]?\d{1,4}[ \t]*[.:)|]|\d{1,4}[ \t]|"
    r"[-*+>|][ \t]|#+[ \t]?)[ \t]*)+"
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX_RUN = re.compile(
    r"(?:\\x[0-9a-fA-F]{2}){8,}|(?<![0-9a-fA-F])(?:[0-9a-fA-F]{2}[ :]?){10,}(?![0-9a-fA-F])"
)
#: The end of a text that may still become an encoded solution: a base64 or hex run, or
#: an unfinished line with a string literal holding escaped newlines.
_OPEN_ENCODED = re.compile(
    r"""(?:[A-Za-z0-9+/_\\-]{16,}={0,2}|["'][^\n]*?\\n[^\n]*)$"""
)
#: A string literal long enough to hold a line of code ("total = 0", "for ch in text:").
_LONG_STRING = re.compile(r"""(["'])((?:\\.|(?!\1)[^\\\n]){8,})\1""")


def normalise(text: str) -> str:
    """NFKC, without format characters (zero-width spaces, joiners), look-alikes mapped."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
        text = text.translate(_CONFUSABLES)
    return text


def code_line(line: str) -> str:
    """One line reduced to its code: normalised, line numbers and prompts dropped."""
    return _LINE_PREFIX.sub("", normalise(line), count=1)


def _readable(data: bytes) -> str | None:
    """``data`` as text when it is mostly printable text (a decoded disguise), else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    return text if text and printable >= 0.95 * len(text) else None


def decoded_runs(text: str) -> list[str]:
    """Texts hidden in ``text``: long base64 or hex runs, and the contents of string
    literals (a solution written as a list of its lines, or as one escaped string)."""
    found = []
    for match in _BASE64_RUN.finditer(text):
        run = match.group().rstrip("=")
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                data = decode(run + "=" * (-len(run) % 4))
            except (binascii.Error, ValueError):
                continue
            readable = _readable(data)
            if readable:
                found.append(readable)
                break
    for match in _HEX_RUN.finditer(text):
        digits = re.sub(r"\\x|[ :]", "", match.group())
        try:
            readable = _readable(bytes.fromhex(digits))
        except ValueError:
            continue
        if readable:
            found.append(readable)
    for match in _LONG_STRING.finditer(text):
        # A line of code inside a string (a list of lines, an escaped multi-line string).
        try:
            found.append(codecs.decode(match.group(2), "unicode_escape"))
        except UnicodeDecodeError:
            found.append(match.group(2))
    return found


def encoded_tail(text: str) -> int:
    """Where an unfinished base64 or hex run, or an unfinished line's string literal
    holding escaped newlines, at the end of ``text`` starts (else its length).

    Such a run is held back until it ends, so that it can be decoded before it is sent.
    """
    match = _OPEN_ENCODED.search(text)
    return match.start() if match else len(text)
