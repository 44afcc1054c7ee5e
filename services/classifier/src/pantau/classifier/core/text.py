"""Indonesian-first text normalisation: Unicode, case, repeated letters, numbers,
abbreviations and slang, stemming, clause boundaries and negation scope.

Everything here is a pure function of the text and the lexicon loaded from the rules
file, so the same report always yields the same tokens.
"""

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

# Three or more of the same letter ("bannnjiiir") collapse to one: Indonesian words
# rarely double a letter and never triple one, while informal texts stretch words.
_REPEATS = re.compile(r"([a-z])\1{2,}")
# Informal reduplication: "bagi2" is "bagi bagi", "surat2" is "surat surat".
_REDUPLICATION = re.compile(r"\b([a-z]{3,})2\b")
# Raw tokens (numbers with thousands separators, letter/digit runs such as "tps05" or
# "bagi2") and clause ends: sentence punctuation, a line break, brackets or a comma
# before a space ("Hoaks: kotak dibakar" keeps the colon's two halves together).
# The number's "no letter or digit before it" check sits after its first digit (a
# two-character lookbehind), not before it: the same tokens as the plain
# ``(?<![a-z0-9])\d{1,3}...``, but the regex engine no longer runs the lookbehind at
# every position of the text (13 % fewer instructions per text).
_RAW_TOKEN = re.compile(
    r"\d(?<![a-z0-9]\d)\d{0,2}(?:[.,]\d{3})+(?![0-9])|[a-z0-9]+|[.!?;\n\r()\[\]]+|,\s"
)
_THOUSANDS_TOKEN = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")
_PIECES = re.compile(r"[a-z]+|\d+")
# "2x" is "2 kali" (twice).
_TIMES = re.compile(r"^(\d+)x$")
TOKEN_CACHE_LIMIT = 200_000
CHUNK_CACHE_LIMIT = 200_000

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


class Analysed:
    """A report after normalisation: one entry per token, in text order.

    The clause index of each token is worked out on first use: only negations and
    denials need it, and most reports have neither."""

    __slots__ = ("_clause", "_entries", "negated", "quantities", "stems", "surfaces")

    def __init__(
        self,
        surfaces: tuple[str, ...],
        stems: tuple[str, ...],
        negated: tuple[bool, ...],
        quantities: tuple[tuple[int, int], ...],
        entries: "list[_Entry]",
        clause: tuple[int, ...] | None = None,
    ) -> None:
        self.surfaces = surfaces
        self.stems = stems
        self.negated = negated
        self.quantities = quantities
        """(token index, value) of every token that counts something ("60", "ratusan")."""
        self._entries = entries
        self._clause = clause

    @property
    def clause(self) -> tuple[int, ...]:
        """The clause index of every token: clause ends (punctuation, line breaks) and
        clause-breaking words ("tetapi", "namun") start a new clause. Only equality of
        indices means anything (tokens in one clause or not), not their values."""
        if self._clause is None:
            self._clause = _clause_indices(self._entries)
        return self._clause


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


class _Entry(NamedTuple):
    """What one raw token, or one whitespace-separated chunk of text (its raw tokens
    joined), contributes; cached per raw token and per chunk."""

    surfaces: tuple[str, ...]
    stems: tuple[str, ...]
    clause_step: int
    """Clauses that start before its first token: clause ends (which have no tokens) and
    a clause-breaking word at its start ("tetapi")."""
    count: int
    """``len(surfaces)``."""
    steps: tuple[int, ...] | None
    """Clauses that start before each of its tokens (``clause_step`` included), when one
    starts after the first token ("tps.kpps", "tidak,tetapi"); else ``None`` (most)."""
    marks: "tuple[tuple[int, ...], tuple[int, ...]] | None"
    """Offsets of its tokens that are negators, and of those that may count something
    (digits, number words); ``None`` when there are none (most tokens)."""
    trail: int
    """Clauses that start after its last token (a chunk ending with punctuation)."""
    pairs: tuple[str, ...]
    """Surface and stem of each token, interleaved: one list extend per entry joins a
    text, and two slices part them again (cheaper than two extends per entry)."""


def _entry(
    surfaces: tuple[str, ...],
    stems: tuple[str, ...],
    clause_step: int,
    steps: tuple[int, ...] | None,
    marks: "tuple[tuple[int, ...], tuple[int, ...]] | None",
    trail: int,
) -> _Entry:
    pairs = tuple(word for pair in zip(surfaces, stems, strict=True) for word in pair)
    return _Entry(surfaces, stems, clause_step, len(surfaces), steps, marks, trail, pairs)


_CLAUSE_END = _entry((), (), 1, None, None, 0)


def _join(entries: "list[_Entry]") -> _Entry:
    """The entry of a chunk: its raw tokens' entries one after the other."""
    surfaces: list[str] = []
    stems: list[str] = []
    steps: list[int] = []
    negators: list[int] = []
    countable: list[int] = []
    pending = 0
    for entry in entries:
        if entry.count == 0:
            pending += entry.clause_step
            continue
        base = len(surfaces)
        surfaces += entry.surfaces
        stems += entry.stems
        own = entry.steps or (entry.clause_step,) + (0,) * (entry.count - 1)
        steps += [pending + own[0], *own[1:]]
        pending = entry.trail
        if entry.marks is not None:
            negators += [base + k for k in entry.marks[0]]
            countable += [base + k for k in entry.marks[1]]
    if not surfaces:
        return _entry((), (), pending, None, None, 0)
    return _entry(
        tuple(surfaces),
        tuple(stems),
        steps[0],
        tuple(steps) if any(steps[1:]) else None,
        (tuple(negators), tuple(countable)) if negators or countable else None,
        pending,
    )


def _clause_indices(entries: list[_Entry]) -> tuple[int, ...]:
    clauses: list[int] = []
    clause = 0
    for _, _, step, count, steps, _, trail, _ in entries:
        if steps is None:
            clause += step
            clauses += [clause] * count
        else:
            for one in steps:
                clause += one
                clauses.append(clause)
        clause += trail
    return tuple(clauses)


class Analyser:
    """Turns text into stems with negation flags; stems are memoised per surface form."""

    def __init__(self, *, lexicon: Lexicon, stem: Callable[[str], str]) -> None:
        self._lexicon = lexicon
        self._stem = stem
        self._cache: dict[str, str] = {}
        # raw token → its _Entry: most tokens recur, so the per-token work (repeats,
        # replacements, stemming) runs once per distinct token.
        self._tokens: dict[str, _Entry] = {}
        # whitespace-separated chunk ("banjir", "tps.", "(kpps") → its raw tokens' entries
        # joined: words recur (Zipf), so most texts need no regex and one lookup per word.
        self._chunks: dict[str, _Entry] = {}

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

    def _raw(self, raw: str) -> _Entry:
        if not raw[0].isalnum():
            entry = _CLAUSE_END
        else:
            lex = self._lexicon
            replacements, breakers = lex.replacements, lex.clause_breakers
            tokens = tuple(
                token for piece in split_raw(raw) for token in replacements.get(piece, (piece,))
            )
            stems = tuple(self.stem(t) for t in tokens)
            breaks = [int(t in breakers) for t in tokens]
            negators = tuple(k for k, st in enumerate(stems) if st in lex.negators)
            countable = tuple(
                k for k, t in enumerate(tokens) if t[0].isdigit() or t in lex.number_words
            )
            entry = _entry(
                tokens,
                stems,
                breaks[0] if breaks else 0,
                tuple(breaks) if any(breaks[1:]) else None,
                (negators, countable) if negators or countable else None,
                0,
            )
        if len(self._tokens) >= TOKEN_CACHE_LIMIT:
            self._tokens.clear()
        self._tokens[raw] = entry
        return entry

    def _chunk(self, chunk: str) -> _Entry:
        """A whitespace-separated chunk: its raw tokens' entries joined. A comma at its
        end ends a clause: in the text a space follows it (``,\\s`` in the raw-token
        regex), or nothing does, and a clause end after the last token changes nothing."""
        known = self._tokens.get
        entries = [known(raw) or self._raw(raw) for raw in _RAW_TOKEN.findall(chunk)]
        if chunk[-1] == ",":
            entries.append(_CLAUSE_END)
        entry = entries[0] if len(entries) == 1 else _join(entries)
        if len(self._chunks) >= CHUNK_CACHE_LIMIT:
            self._chunks.clear()
        self._chunks[chunk] = entry
        return entry

    def _entries(self, text: str) -> list[_Entry]:
        """The entries of the text's whitespace-separated chunks. Splitting at whitespace
        first gives the same tokens as the raw-token regex over the whole text, since no
        token spans whitespace, except clause ends: ``,\\s`` (see ``_chunk``) and line
        breaks, which become a chunk of their own (a clause end)."""
        folded = fold(text)
        if "\n" in folded or "\r" in folded:
            folded = folded.replace("\r", " . ").replace("\n", " . ")
        chunks = folded.split()
        try:
            return list(map(self._chunks.__getitem__, chunks))
        except KeyError:  # a chunk not seen yet (rare once the cache is warm)
            known = self._chunks.get
            return [known(chunk) or self._chunk(chunk) for chunk in chunks]

    def tokens(self, text: str) -> tuple[list[str], list[str], list[int]]:
        """Surfaces, stems and clause index of every normalised token."""
        doc = self.analyse(text)
        return list(doc.surfaces), list(doc.stems), list(doc.clause)

    def analyse(self, text: str) -> Analysed:
        """Tokens, stems, negation scope, clause index and quantities of a text."""
        return self._analyse(self._entries(text))

    def _analyse(self, entries: list[_Entry]) -> Analysed:
        # A plain loop of list extends is the cheapest way to join the cached pieces.
        pairs: list[str] = []
        negations: list[int] = []
        countable: list[int] = []
        for entry in entries:
            marks = entry[5]
            if marks is not None:
                base = len(pairs) >> 1
                negations += [base + k for k in marks[0]]
                countable += [base + k for k in marks[1]]
            pairs += entry[7]
        joined = tuple(pairs)
        surfaces, stems = joined[0::2], joined[1::2]
        doc = Analysed(surfaces, stems, (), (), entries)
        if negations:
            doc.negated = self._negated(stems, doc.clause, negations)
        else:
            doc.negated = (False,) * len(stems)
        if countable:
            doc.quantities = self._quantities(surfaces, stems, countable)
        return doc

    def _negated(
        self, stems: tuple[str, ...], clauses: tuple[int, ...], negations: list[int]
    ) -> tuple[bool, ...]:
        """Which tokens lie in the scope of one of the negators at ``negations``."""
        lex = self._lexicon
        n = len(stems)
        negated = [False] * n
        for i in negations:
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
        return tuple(negated)

    def _quantities(
        self, surfaces: tuple[str, ...], stems: tuple[str, ...], countable: list[int]
    ) -> tuple[tuple[int, int], ...]:
        """(index, value) of the tokens at ``countable`` that count something."""
        number_words, identifiers = self._lexicon.number_words, self._lexicon.identifier_words
        quantities = []
        for i in countable:
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
        return tuple(quantities)
