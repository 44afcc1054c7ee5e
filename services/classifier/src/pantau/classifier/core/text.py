"""Indonesian-first text normalisation: Unicode, case, repeated letters, numbers,
abbreviations and slang, stemming, clause boundaries and negation scope.

Everything here is a pure function of the text and the lexicon loaded from the rules
file, so the same report always yields the same tokens.
"""

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Three or more of the same letter ("bannnjiiir") collapse to one: Indonesian words
# rarely double a letter and never triple one, while informal texts stretch words.
_REPEATS = re.compile(r"([a-z])\1{2,}")
# Informal reduplication: "bagi2" is "bagi bagi", "surat2" is "surat surat".
_REDUPLICATION = re.compile(r"\b([a-z]{3,})2\b")
# Raw tokens (numbers with thousands separators, letter/digit runs such as "tps05" or
# "bagi2") and clause ends: sentence punctuation, a line break, brackets or a comma
# before a space ("Hoaks: kotak dibakar" keeps the colon's two halves together).
_RAW_TOKEN = re.compile(
    r"(?<![a-z0-9])\d{1,3}(?:[.,]\d{3})+(?![0-9])|[a-z0-9]+|[.!?;\n\r()\[\]]+|,\s"
)
_THOUSANDS_TOKEN = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")
_PIECES = re.compile(r"[a-z]+|\d+")
# "2x" is "2 kali" (twice).
_TIMES = re.compile(r"^(\d+)x$")
TOKEN_CACHE_LIMIT = 200_000

# Cached per raw token: (surfaces, stems, is a clause end, contains a clause-breaking word).
_RawEntry = tuple[tuple[str, ...], tuple[str, ...], bool, bool]

STEM_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The language knowledge the rules file supplies (see rules.yaml, ``lexicon``)."""

    replacements: Mapping[str, tuple[str, ...]]
    """Surface token → normalised tokens (abbreviations, slang, typos, colloquial forms)."""
    stem_overrides: Mapping[str, str]
    """Surface token → stem, where the stemmer would merge unrelated words."""
    negators: frozenset[str]
    """Stems that negate the next tokens of their clause ("tidak", "bukan", "tanpa")."""
    scope_breakers: frozenset[str]
    """Stems that end a negation scope ("karena", "tetapi", "akibat")."""
    clause_breakers: frozenset[str]
    """Stems that end a clause like punctuation does ("tetapi", "namun")."""
    negation_blockers_before: frozenset[str]
    """Stems after which a negator opens no scope ("kalau tidak memilih X")."""
    negation_idioms: frozenset[str]
    """Stems that make an idiom with the negator before them ("tidak dikenal")."""
    negation_window: int
    number_words: Mapping[str, int]
    identifier_words: frozenset[str]
    """Stems after which a number is an identifier, not a quantity ("TPS 41", "RT 05")."""
    """Words that stand for a quantity ("ratusan" → 100, "puluhan" → 20)."""


@dataclass(frozen=True, slots=True)
class Analysed:
    """A report after normalisation: one entry per token, in text order."""

    surfaces: tuple[str, ...]
    stems: tuple[str, ...]
    negated: tuple[bool, ...]
    clause: tuple[int, ...]
    quantities: tuple[tuple[int, int], ...]
    """(token index, value) of every token that counts something ("60", "ratusan")."""


def fold(text: str) -> str:
    """Unicode-normalise (NFKD), strip accents and case-fold."""
    if text.isascii():
        return text.lower()  # same as NFKD + casefold for ASCII, and much faster
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()


def raw_tokens(text: str) -> list[str]:
    """The raw tokens and clause ends of a text, before any per-token normalisation."""
    return _RAW_TOKEN.findall(fold(text))


def split_raw(raw: str) -> list[str]:
    """Normalise one raw token into words and numbers: "1.200" → 1200, "bannnjir" →
    banjir, "bagi2" → bagi bagi, "tps05" → tps 05."""
    if _THOUSANDS_TOKEN.match(raw):
        return [raw.replace(".", "").replace(",", "")]
    token = _REPEATS.sub(r"\1", raw)
    token = _REDUPLICATION.sub(r"\1 \1", token)
    token = _TIMES.sub(r"\1 kali", token)
    return _PIECES.findall(token)


class Analyser:
    """Turns text into stems with negation flags; stems are memoised per surface form."""

    def __init__(self, *, lexicon: Lexicon, stem: Callable[[str], str]) -> None:
        self._lexicon = lexicon
        self._stem = stem
        self._cache: dict[str, str] = {}
        # raw token → ((surface, stem, starts a clause), ...): most tokens recur, so the
        # per-token work (repeats, replacements, stemming) runs once per distinct token.
        self._tokens: dict[str, _RawEntry] = {}

    @property
    def lexicon(self) -> Lexicon:
        return self._lexicon

    def stem(self, token: str) -> str:
        """The stem of one normalised token (cached: the stemmer is slow)."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        override = self._lexicon.stem_overrides.get(token)
        if override is not None:
            result = override
        elif token.isdigit() or len(token) <= 3:
            result = token
        else:
            result = self._stem(token) or token
        if len(self._cache) >= STEM_CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = result
        return result

    def _raw(self, raw: str) -> _RawEntry:
        if not raw[0].isalnum():
            entry: _RawEntry = ((), (), True, False)
        else:
            replacements = self._lexicon.replacements
            tokens = tuple(
                token for piece in split_raw(raw) for token in replacements.get(piece, (piece,))
            )
            entry = (
                tokens,
                tuple(self.stem(t) for t in tokens),
                False,
                any(t in self._lexicon.clause_breakers for t in tokens),
            )
        if len(self._tokens) >= TOKEN_CACHE_LIMIT:
            self._tokens.clear()
        self._tokens[raw] = entry
        return entry

    def tokens(self, text: str) -> tuple[list[str], list[str], list[int]]:
        """Surfaces, stems and clause index of every normalised token."""
        known = self._tokens.get
        entries = [known(raw) or self._raw(raw) for raw in _RAW_TOKEN.findall(fold(text))]
        surfaces: list[str] = []
        stems: list[str] = []
        clauses: list[int] = []
        breakers = self._lexicon.clause_breakers
        clause = 0
        for surfs, sts, ends_clause, has_breaker in entries:
            if ends_clause:
                clause += 1
            elif has_breaker:  # "tetapi", "namun": a new clause starts at the word
                for surface, stem in zip(surfs, sts, strict=True):
                    clause += surface in breakers
                    surfaces.append(surface)
                    stems.append(stem)
                    clauses.append(clause)
            else:
                surfaces += surfs
                stems += sts
                clauses += [clause] * len(surfs)
        return surfaces, stems, clauses

    def analyse(self, text: str) -> Analysed:
        """Tokens, stems, negation scope, clause index and quantities of a text."""
        lex = self._lexicon
        surface_list, stem_list, clause_list = self.tokens(text)
        surfaces, stems, clauses = tuple(surface_list), tuple(stem_list), tuple(clause_list)
        n = len(stems)
        negated = [False] * n
        negators = lex.negators
        for i in [i for i, st in enumerate(stems) if st in negators]:
            clause = clauses[i]
            # "kalau tidak memilih" is a condition; "tidak dikenal" an idiom.
            if i > 0 and clauses[i - 1] == clause and stems[i - 1] in lex.negation_blockers_before:
                continue
            if i + 1 < n and clauses[i + 1] == clause and stems[i + 1] in lex.negation_idioms:
                continue
            for j in range(i + 1, min(n, i + 1 + lex.negation_window)):
                if clauses[j] != clause or stems[j] in lex.scope_breakers:
                    break
                negated[j] = True
        number_words, identifiers = lex.number_words, lex.identifier_words
        quantities = []
        for i in [i for i, tok in enumerate(surfaces) if tok[0].isdigit() or tok in number_words]:
            tok = surfaces[i]
            if not tok[0].isdigit():
                quantities.append((i, number_words[tok]))
            # "TPS 07" and "RT 05" are names, not counts.
            elif (
                len(tok) <= 9
                and (len(tok) == 1 or tok[0] != "0")
                and not (i > 0 and stems[i - 1] in identifiers)
            ):
                quantities.append((i, int(tok)))
        return Analysed(
            surfaces=surfaces,
            stems=stems,
            negated=tuple(negated),
            clause=clauses,
            quantities=tuple(quantities),
        )
