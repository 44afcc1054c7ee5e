"""The rules file: its schema, loading with line-accurate errors, and compilation.

A domain expert edits ``rules.yaml``; a mistake must stop the service at start-up with
the line at fault, never silently classify with half the rules. Terms are normalised
and stemmed exactly like report text, so "dicoblos" in a rule matches "mencoblos" and
"nyoblos" in a report.
"""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pantau.classifier.core.text import Analyser, Lexicon
from pantau.shared.events.classified import Category, Severity

SeverityName = Literal["low", "medium", "high", "critical"]
FACT_PREFIX = "@"


class RulesError(ValueError):
    """The rules file is unreadable or invalid; the message names the file and line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    id: str = Field(min_length=1, description="Indonesian text shown to liaisons.")
    en: str = Field(min_length=1, description="English text.")


class LexiconSpec(_Strict):
    replacements: dict[str, str] = Field(default_factory=dict)
    stem_overrides: dict[str, str] = Field(default_factory=dict)
    negators: list[str] = Field(default_factory=list)
    scope_breakers: list[str] = Field(default_factory=list)
    clause_breakers: list[str] = Field(default_factory=list)
    negation_blockers_before: list[str] = Field(default_factory=list)
    negation_idioms: list[str] = Field(default_factory=list)
    negation_window: int = Field(4, ge=1, le=10)
    number_words: dict[str, int] = Field(default_factory=dict)
    identifier_words: list[str] = Field(default_factory=list)
    denials: list[str] = Field(
        default_factory=list,
        description="Terms that make their clause a denial or a hoax claim.",
    )


class QuantitySpec(_Strict):
    units: list[str] = Field(min_length=1)
    min: int = Field(ge=1)


class FactSpec(_Strict):
    """A named condition: any of its terms, or a number ≥ min of one of the units."""

    label: Label
    any: list[str] = Field(default_factory=list)
    quantities: list[QuantitySpec] = Field(default_factory=list)


class _ConditionSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: Label
    any: list[str] = Field(default_factory=list)
    all: list[list[str]] = Field(default_factory=list)
    none: list[str] = Field(default_factory=list)
    deniable: bool = Field(True, description="False: still counts inside a denied clause.")

    @field_validator("all")
    @classmethod
    def _groups_not_empty(cls, value: list[list[str]]) -> list[list[str]]:
        if any(not group for group in value):
            raise ValueError("every group of `all` needs at least one term")
        return value

    @model_validator(mode="after")
    def _has_terms(self) -> "_ConditionSpec":
        if not self.any and not self.all:
            raise ValueError(f"signal {self.id!r} needs `any` or `all`")
        return self


class SignalSpec(_ConditionSpec):
    weight: float = Field(gt=0, le=20)
    institutions: list[str] = Field(default_factory=list)


class CategorySpec(_Strict):
    slug: Category
    label: Label
    institutions: list[str]
    baseline_severity: SeverityName
    signals: list[SignalSpec] = Field(min_length=1)


class SeveritySpec(_ConditionSpec):
    level: SeverityName
    cap: bool = Field(False, description="True: lowers the category baseline to `level`.")
    categories: list[Category] = Field(default_factory=list)


class ThresholdSpec(_Strict):
    incident_min_score: float = Field(gt=0)
    secondary_min_score: float = Field(gt=0)
    secondary_ratio: float = Field(gt=0, le=1)
    hint_weight: float = Field(ge=0)
    max_secondary: int = Field(3, ge=0)


class RulesSpec(_Strict):
    version: str = Field(min_length=1, max_length=64)
    lexicon: LexiconSpec
    thresholds: ThresholdSpec
    facts: dict[str, FactSpec] = Field(default_factory=dict)
    categories: list[CategorySpec]
    severity: list[SeveritySpec]

    @field_validator("categories")
    @classmethod
    def _every_category_once(cls, value: list[CategorySpec]) -> list[CategorySpec]:
        slugs = [c.slug for c in value]
        missing = set(Category) - set(slugs)
        if missing:
            raise ValueError(f"categories missing: {sorted(m.value for m in missing)}")
        if len(set(slugs)) != len(slugs):
            raise ValueError("a category is listed twice")
        return value


# ---------------------------------------------------------------- compiled form

_KINDS = {c: f"category:{c.value}" for c in Category}


class _TermError(RulesError):
    def __init__(self, message: str, term: str) -> None:
        super().__init__(message)
        self.term = term


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    stems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fact:
    id: int
    name: str
    label: Label
    term_ids: frozenset[int]
    minimum_by_unit: dict[str, int]
    """Unit stem → the smallest number of it that makes the fact true."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled signal: ids are term ids or fact ids (facts are numbered after terms)."""

    id: str
    label: Label
    any: frozenset[int]
    all: tuple[frozenset[int], ...]
    none: frozenset[int]
    deniable: bool
    weight: float = 0.0
    level: Severity = Severity.LOW
    cap: bool = False
    institutions: tuple[str, ...] = ()
    categories: frozenset[Category] = frozenset()
    refs: frozenset[int] = frozenset()
    """Every id in ``any`` and ``all``: the signal can fire only if one of them occurs."""
    any_only: bool = False
    """No ``all`` groups and no ``none``: the signal fires when one of ``any`` occurs."""


@dataclass(frozen=True, slots=True)
class CompiledCategory:
    slug: Category
    label: Label
    institutions: tuple[str, ...]
    baseline: Severity
    signals: tuple[Condition, ...]
    kind: str = ""
    """How fired signals of this category are tagged: ``category:<slug>``."""
    name: str = ""
    """The slug as plain text (the key of its score)."""


_Phrase = tuple[tuple[str, ...], int]
"""A phrase term: its stems and its term id."""
IndexedPhrase = tuple[tuple[str, ...], int, int, bool]
"""A phrase term in ``Ruleset.term_index``: its stems, term id, length, and whether it
covers the shorter terms inside it (not when only severity signals use it)."""


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Rules ready to apply: the term index, facts, categories and severity signals, and
    the indexes derived from them at load time."""

    version: str
    analyser: Analyser
    terms: tuple[Term, ...]
    unigrams: dict[str, tuple[int, ...]]
    phrases: dict[str, tuple[tuple[tuple[str, ...], int], ...]]
    denial_ids: frozenset[int]
    facts: tuple[Fact, ...]
    categories: tuple[CompiledCategory, ...]
    severity: tuple[Condition, ...]
    thresholds: ThresholdSpec
    term_index: dict[str, tuple[tuple[int, ...], dict[str, tuple[IndexedPhrase, ...]]]]
    """First stem → (single-word term ids, second stem → the phrases starting with those
    two, in term order)."""
    fact_index: dict[int, tuple[int, ...]]
    """Term id → positions of the facts that list it."""
    quantity_facts: tuple[int, ...]
    """Positions of the facts that a quantity can make true."""
    severity_only: frozenset[int]
    """Terms that only severity signals use."""
    category_order: dict[Category, int]
    """Position of each category in the file: ties go to the earlier one."""
    category_signals: tuple[tuple[CompiledCategory, Condition], ...]
    """Every category signal with its category, in file order."""
    signal_index: dict[int, tuple[int, ...]]
    """Term/fact id → positions in ``category_signals`` of the signals that mention it."""
    severity_index: dict[int, tuple[int, ...]]
    """Term/fact id → positions in ``severity`` of the signals that mention it."""
    by_slug: dict[Category, CompiledCategory]

    def category(self, slug: Category) -> CompiledCategory:
        return self.by_slug[slug]


def default_stemmer() -> Callable[[str], str]:
    """PySastrawi's Indonesian stemmer (rule-based, deterministic, no downloads)."""
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

    return StemmerFactory().create_stemmer().stem


def _lexicon(spec: LexiconSpec, fold_stem: Any) -> Lexicon:
    return Lexicon(
        replacements={k.lower(): tuple(v.lower().split()) for k, v in spec.replacements.items()},
        stem_overrides={k.lower(): v.lower() for k, v in spec.stem_overrides.items()},
        negators=frozenset(fold_stem(w) for w in spec.negators),
        scope_breakers=frozenset(fold_stem(w) for w in spec.scope_breakers),
        clause_breakers=frozenset(w.lower() for w in spec.clause_breakers),
        negation_blockers_before=frozenset(fold_stem(w) for w in spec.negation_blockers_before),
        negation_idioms=frozenset(fold_stem(w) for w in spec.negation_idioms),
        negation_window=spec.negation_window,
        number_words={k.lower(): v for k, v in spec.number_words.items()},
        identifier_words=frozenset(fold_stem(w) for w in spec.identifier_words),
    )


class _Compiler:
    def __init__(self, spec: RulesSpec, stem: Any) -> None:
        self.spec = spec
        bootstrap = Analyser(lexicon=_lexicon(spec.lexicon, lambda w: w), stem=stem)
        self.analyser = Analyser(
            lexicon=_lexicon(spec.lexicon, lambda w: bootstrap.stem(w.lower())), stem=stem
        )
        self.terms: list[Term] = []
        self.term_ids: dict[tuple[str, ...], int] = {}
        self.fact_ids = {name: i for i, name in enumerate(spec.facts)}

    def term(self, text: str, where: str) -> int:
        if text.startswith(FACT_PREFIX):
            name = text[len(FACT_PREFIX) :]
            if name not in self.fact_ids:
                raise _TermError(f"{where}: unknown fact {text!r}", text)
            return -1 - self.fact_ids[name]  # resolved to real ids in _resolve
        stems = self.analyser.analyse(text).stems
        if not stems:
            raise _TermError(f"{where}: term {text!r} has no words", text)
        if stems not in self.term_ids:
            self.term_ids[stems] = len(self.terms)
            self.terms.append(Term(text=text, stems=stems))
        return self.term_ids[stems]

    def ids(self, texts: Sequence[str], where: str) -> frozenset[int]:
        return frozenset(self.term(t, where) for t in texts)

    def condition(self, spec: _ConditionSpec, where: str, **extra: Any) -> Condition:
        return Condition(
            id=spec.id,
            label=spec.label,
            any=self.ids(spec.any, where),
            all=tuple(self.ids(g, where) for g in spec.all),
            none=self.ids(spec.none, where),
            deniable=spec.deniable,
            **extra,
        )

    def compile(self) -> Ruleset:
        spec = self.spec
        raw_facts = [(name, f, self.ids(f.any, f"facts.{name}")) for name, f in spec.facts.items()]
        categories = tuple(
            CompiledCategory(
                slug=cat.slug,
                label=cat.label,
                institutions=tuple(dict.fromkeys(cat.institutions)),
                baseline=Severity(cat.baseline_severity),
                signals=tuple(
                    self.condition(
                        s,
                        f"categories.{cat.slug.value}.{s.id}",
                        weight=s.weight,
                        institutions=tuple(s.institutions),
                    )
                    for s in cat.signals
                ),
            )
            for cat in spec.categories
        )
        severity = tuple(
            self.condition(
                s,
                f"severity.{s.id}",
                level=Severity(s.level),
                cap=s.cap,
                categories=frozenset(s.categories),
            )
            for s in spec.severity
        )
        denial_ids = self.ids(spec.lexicon.denials, "lexicon.denials")
        used_elsewhere = set(denial_ids).union(*(ids for _, _, ids in raw_facts))
        for cat in categories:
            for sig in cat.signals:
                used_elsewhere |= sig.any.union(*sig.all, sig.none)
        # Facts are numbered after every term, so one id space covers both.
        n_terms = len(self.terms)

        def resolve(ids: frozenset[int]) -> frozenset[int]:
            return frozenset(i if i >= 0 else n_terms + (-1 - i) for i in ids)

        def resolve_cond(c: Condition) -> Condition:
            any_ids, all_ids = resolve(c.any), tuple(resolve(g) for g in c.all)
            return Condition(
                id=c.id,
                label=c.label,
                any=any_ids,
                all=all_ids,
                refs=any_ids.union(*all_ids),
                any_only=not all_ids and not c.none,
                none=resolve(c.none),
                deniable=c.deniable,
                weight=c.weight,
                level=c.level,
                cap=c.cap,
                institutions=c.institutions,
                categories=c.categories,
            )

        facts = tuple(
            Fact(
                id=n_terms + i,
                name=name,
                label=f.label,
                term_ids=resolve(ids),
                minimum_by_unit={
                    self.analyser.stem(unit.lower()): q.min
                    for q in f.quantities
                    for unit in q.units
                },
            )
            for i, (name, f, ids) in enumerate(raw_facts)
        )
        unigrams: dict[str, list[int]] = {}
        phrases: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for tid, term in enumerate(self.terms):
            if len(term.stems) == 1:
                unigrams.setdefault(term.stems[0], []).append(tid)
            else:
                phrases.setdefault(term.stems[0], []).append((term.stems, tid))
        compiled_categories = tuple(
            CompiledCategory(
                slug=c.slug,
                label=c.label,
                institutions=c.institutions,
                baseline=c.baseline,
                signals=tuple(resolve_cond(s) for s in c.signals),
                kind=_KINDS[c.slug],
                name=c.slug.value,
            )
            for c in categories
        )
        category_signals = tuple((c, s) for c in compiled_categories for s in c.signals)
        severity_only = frozenset(range(n_terms)) - used_elsewhere
        compiled_severity = tuple(resolve_cond(s) for s in severity)
        return Ruleset(
            version=spec.version,
            analyser=self.analyser,
            terms=tuple(self.terms),
            unigrams={k: tuple(v) for k, v in unigrams.items()},
            phrases={k: tuple(v) for k, v in phrases.items()},
            denial_ids=resolve(denial_ids),
            facts=facts,
            categories=compiled_categories,
            severity=compiled_severity,
            thresholds=spec.thresholds,
            category_signals=category_signals,
            signal_index=_positions_by_id(sig.refs for _, sig in category_signals),
            severity_index=_positions_by_id(cond.refs for cond in compiled_severity),
            by_slug={c.slug: c for c in compiled_categories},
            category_order={c.slug: i for i, c in enumerate(compiled_categories)},
            severity_only=severity_only,
            fact_index=_positions_by_id(fact.term_ids for fact in facts),
            quantity_facts=tuple(i for i, f in enumerate(facts) if f.minimum_by_unit),
            term_index={
                stem: (
                    tuple(unigrams.get(stem, ())),
                    _by_second_stem(phrases.get(stem, []), severity_only),
                )
                for stem in set(unigrams) | set(phrases)
            },
        )


def _by_second_stem(
    phrases: Sequence[_Phrase], severity_only: frozenset[int]
) -> dict[str, tuple[IndexedPhrase, ...]]:
    """Phrases sharing a first stem, grouped by their second (order kept): a text is
    compared only with the phrases that can still match ("tidak" starts 67 of them)."""
    grouped: dict[str, list[IndexedPhrase]] = {}
    for seq, tid in phrases:
        grouped.setdefault(seq[1], []).append((seq, tid, len(seq), tid not in severity_only))
    return {k: tuple(v) for k, v in grouped.items()}


def _positions_by_id(groups: Iterable[Iterable[int]]) -> dict[int, tuple[int, ...]]:
    """Id → positions (ascending) of the groups of ids that hold it."""
    index: dict[int, list[int]] = {}
    for position, ids in enumerate(groups):
        for id_ in ids:
            index.setdefault(id_, []).append(position)
    return {k: tuple(v) for k, v in index.items()}


# ---------------------------------------------------------------- loading


def _line_of(node: yaml.Node, loc: Sequence[int | str]) -> int:
    """1-based line of the YAML node at the pydantic error location ``loc``."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == key), None)
            if found is None:
                # The key itself is wrong (extra/unknown): point at the mapping key.
                found = next((k for k, _ in node.value if k.value == key), None)
                return (found or node).start_mark.line + 1
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                break
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1


class _RulesLoader(yaml.SafeLoader):
    """YAML 1.2-style booleans: only true/false. Under YAML 1.1 the words "no", "on",
    "off", "y" and "n" turn into booleans, which is wrong for a list of words."""


_RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def parse_rules(text: str, *, source: str = "<rules>", stem: Any = None) -> Ruleset:
    """Validate and compile rules from YAML text; ``RulesError`` names the line at fault."""
    try:
        node = yaml.compose(text, Loader=_RulesLoader)
        data = yaml.load(text, Loader=_RulesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else "?"
        raise RulesError(f"{source}:{line}: YAML syntax error: {exc.problem}") from exc
    if node is None or not isinstance(data, dict):
        raise RulesError(f"{source}:1: the rules file must be a YAML mapping")
    try:
        spec = RulesSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        # A misspelt key shows as "extra" plus "missing": the extra one has the line.
        err = min(errors, key=lambda e: e["type"] == "missing")
        line = _line_of(node, err["loc"])
        where = ".".join(str(p) for p in err["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RulesError(f"{source}:{line}: {where}: {err['msg']}{more}") from exc
    try:
        return _Compiler(spec, stem or default_stemmer()).compile()
    except _TermError as exc:
        # Compilation works on validated data without marks: find the term's line.
        line = next(
            (n for n, row in enumerate(text.splitlines(), 1) if exc.term in row and n > 1), "?"
        )
        raise RulesError(f"{source}:{line}: {exc}") from exc


DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "rules" / "rules.yaml"


def load_rules(path: Path | str | None = None, *, stem: Any = None) -> Ruleset:
    """Load a rules file (the packaged ``rules/rules.yaml`` by default)."""
    rules_path = Path(path) if path else DEFAULT_RULES_PATH
    try:
        text = rules_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{rules_path}: cannot read rules file: {exc}") from exc
    return parse_rules(text, source=str(rules_path), stem=stem)
