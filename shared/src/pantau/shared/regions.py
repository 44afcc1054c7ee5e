"""Kemendagri region codes: parsing, normalising and the hierarchy.

Province ``NN``, regency/city ``NN.NN``, district ``NN.NN.NN``, village
``NN.NN.NN.NNNN``. Both dotted and undotted forms are accepted. The code format
and the region-name lookup are part of the contract: the classified topic is
keyed by regency, and notifier routes by the hierarchy.
"""

import re
from functools import lru_cache

from lokal import wilayah

_SEGMENTS = (2, 2, 2, 4)
_UNDOTTED = re.compile(r"^\d{2}(\d{2}(\d{2}(\d{4})?)?)?$")
_DOTTED = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


class InvalidRegionCode(ValueError):
    """The text is not a Kemendagri code, or no such region exists."""


def normalize(code: str) -> str:
    """Return the dotted form of a region code, without checking that it exists."""
    text = code.strip()
    if _DOTTED.match(text):
        return text
    if not _UNDOTTED.match(text):
        raise InvalidRegionCode(
            f"{code!r} is not a Kemendagri region code (NN, NN.NN, NN.NN.NN or NN.NN.NN.NNNN)"
        )
    parts, pos = [], 0
    for width in _SEGMENTS:
        if pos >= len(text):
            break
        parts.append(text[pos : pos + width])
        pos += width
    return ".".join(parts)


def level(code: str) -> int:
    """1 province, 2 regency/city, 3 district, 4 village."""
    return normalize(code).count(".") + 1


def ancestors(code: str) -> list[str]:
    """The code and every ancestor, most specific first: village → ... → province."""
    parts = normalize(code).split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def regency_key(code: str) -> str:
    """The Kafka key of ``report.classified``: the regency, or the province if that is all."""
    parts = normalize(code).split(".")
    return ".".join(parts[:2])


@lru_cache(maxsize=65536)
def name(code: str) -> str | None:
    """The official name of a region, or ``None`` when the data set does not know it."""
    return wilayah.wilayah_name(normalize(code))


def validate(code: str) -> str:
    """Normalise ``code`` and check it exists in the bundled Kemendagri list."""
    dotted = normalize(code)
    if name(dotted) is None:
        raise InvalidRegionCode(f"region {dotted} is not in the Kemendagri list")
    return dotted
