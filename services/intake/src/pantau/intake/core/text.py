"""Text hygiene applied to every free-text field before any length rule."""

import re
import unicodedata

# Unicode category Cc is exactly U+0000–U+001F and U+007F–U+009F. Newlines and tabs
# carry meaning in a long description and stay there; every other control goes.
_CONTROLS_EXCEPT_NEWLINE_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WHITESPACE_RUN = re.compile(r"\s+")


def clean_text(value: str, *, multiline: bool = True) -> str:
    """NFC-normalise, drop control characters and trim surrounding whitespace.

    Single-line text also turns every run of whitespace (tabs, newlines) into one space.
    """
    if value.isascii() and value.isprintable() and (multiline or "  " not in value):
        # The common case, checked in C: ASCII is already NFC, and printable ASCII has
        # no control characters and no whitespace but the space (runs of which are
        # what single-line text would collapse). Only the trimming is left.
        return value.strip(" ")
    return _clean_any(value, multiline=multiline)


def _clean_any(value: str, *, multiline: bool) -> str:
    """``clean_text`` for any text (the fast path above must agree with it)."""
    normalised = unicodedata.normalize("NFC", value)
    if multiline:
        normalised = normalised.replace("\r\n", "\n").replace("\r", "\n")
        return _CONTROLS_EXCEPT_NEWLINE_TAB.sub("", normalised).strip()
    spaced = _WHITESPACE_RUN.sub(" ", normalised)
    return _WHITESPACE_RUN.sub(" ", _CONTROLS.sub("", spaced)).strip()
