"""``classify(report, rules) -> Classification``: a pure, deterministic function.

Steps: analyse the text (normalise, stem, negation scope); find every rule term that
occurs, ignoring occurrences inside a negation scope and, for deniable signals, inside
a clause that denies or calls the claim a hoax; evaluate facts (terms or quantities
such as "60 TPS"); score categories by the weights of the signals that fired; derive
severity from severity signals, falling back to the primary category's baseline; and
explain in Indonesian (and English) which signals fired.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain, compress
from operator import attrgetter

from pantau.classifier.core.rules import CompiledCategory, Condition, IndexedPhrase, Ruleset
from pantau.classifier.core.text import Analysed
from pantau.shared.events.classified import Category, Severity

MAX_TEXT_CHARS = 20_000
"""Longer texts are cut: a field report is short, and the cost must stay bounded."""

# Words allowed between a number and its unit.
_QUANTITY_FILLERS = frozenset({"an", "lebih", "buah", "unit", "titik", "lokasi", "orang"})

# Enum members as module constants: ``Category.X`` goes through the enum's metaclass on
# every access, which costs more than the comparison it feeds.
_NOT_AN_INCIDENT = Category.NOT_AN_INCIDENT
_LOW = Severity.LOW
_RANK = attrgetter("rank")

_SEVERITY_EN = {s: s.value for s in Severity}
_SEVERITY_ID = {
    Severity.LOW: "rendah",
    Severity.MEDIUM: "sedang",
    Severity.HIGH: "tinggi",
    Severity.CRITICAL: "kritis",
}


@dataclass(frozen=True, slots=True)
class ReportInput:
    """The parts of a report the classifier reads."""

    text: str
    title: str | None = None
    category_hint: str | None = None


@dataclass(frozen=True, slots=True)
class FiredSignal:
    """A signal that fired, with the words of the report that made it fire."""

    id: str
    kind: str  # "category:<slug>" or "severity"
    label_id: str
    label_en: str
    evidence: tuple[str, ...]
    weight: float = 0.0
    level: Severity | None = None


@dataclass(frozen=True, slots=True)
class Classification:
    """The outcome for one report: what ``report.classified`` and ``pantau classify`` carry."""

    category: Category
    secondary_categories: tuple[Category, ...]
    severity: Severity
    confidence: float
    institutions: tuple[str, ...]
    explanation: str
    explanation_en: str
    rules_version: str
    scores: dict[str, float] = field(default_factory=dict)
    signals: tuple[FiredSignal, ...] = ()
    """The signals the explanation cites: the primary category's, then severity's."""
    suppressed: tuple[str, ...] = ()
    """Terms that occurred but were negated or denied (shown in the explanation)."""


@dataclass(slots=True)
class _Matches:
    present: set[int]
    """Ids found outside any negation scope and outside denied clauses."""
    present_denied: set[int]
    """Ids found outside negation scopes, denied clauses included."""
    evidence: dict[int, str]
    suppressed: dict[int, str]


def _phrases_at(
    stems: tuple[str, ...], i: int, phrases: tuple[IndexedPhrase, ...]
) -> list[tuple[int, int, bool]] | None:
    """(term id, end, covers) of the ``phrases`` that occur at ``i``; None if none do."""
    found = None
    for seq, tid, length, covers in phrases:
        end = i + length
        if stems[i:end] == seq:  # shorter (so unequal) if the text ends first
            if found is None:
                found = [(tid, end, covers)]
            else:
                found.append((tid, end, covers))
    return found


def _find_hits(rules: Ruleset, stems: tuple[str, ...]) -> list[tuple[int, int, int]]:
    """(term id, start, end) of every rule term occurring in the stems, in text order
    (at one position single words first, then phrases in term order), except those
    lying strictly inside a longer phrase: "serangan fajar" is not an attack, and "surat
    suara kurang" is not "suara (ber)kurang". Phrases used only by severity signals
    cover nothing: they grade an incident, they do not say what it is.

    One pass: phrases have two stems or more, so a term is inside a longer covering
    phrase if one that started earlier reaches at least as far as the term's end
    (``covered_to``), or one starting at the same position reaches further."""
    index = rules.term_index
    hits: list[tuple[int, int, int]] = []
    last = len(stems) - 1
    covered_to = 0
    # ``compress`` picks the positions of indexed stems without a Python-level loop
    # over every token (most tokens start no term).
    for i in compress(range(last + 1), map(index.__contains__, stems)):
        unigram_ids, phrases = index[stems[i]]
        group = phrases.get(stems[i + 1]) if phrases and i < last else None
        found = _phrases_at(stems, i, group) if group else None
        if found is None:
            if i >= covered_to:
                for tid in unigram_ids:
                    hits.append((tid, i, i + 1))
            continue
        reach = max(end if covers else 0 for _, end, covers in found)
        if i >= covered_to and not reach:
            for tid in unigram_ids:
                hits.append((tid, i, i + 1))
        for tid, end, _ in found:
            if covered_to < end and reach <= end:
                hits.append((tid, i, end))
        covered_to = max(covered_to, reach)
    return hits


def _match_terms(rules: Ruleset, doc: Analysed) -> _Matches:
    negated, surfaces = doc.negated, doc.surfaces
    hits = _find_hits(rules, doc.stems)
    denial_ids = rules.denial_ids
    denials = [s for tid, s, _ in hits if tid in denial_ids]
    denied_clauses: set[int] = set()
    clauses: tuple[int, ...] = ()
    if denials:
        clauses = doc.clause
        denied_clauses = {clauses[s] for s in denials}
        if any(clauses.count(c) <= 2 for c in denied_clauses):
            # A marker standing alone ("Hoaks!", "[HOAKS]") labels the whole report.
            denied_clauses = set(clauses)
    evidence: dict[int, str] = {}
    if not denied_clauses and True not in negated:
        # Nothing negated or denied (most reports): every hit counts; its first
        # occurrence is the evidence.
        for tid, start, end in hits:
            if tid not in evidence:
                evidence[tid] = (
                    surfaces[start] if end - start == 1 else _words(surfaces, start, end)
                )
        # One set for both: with nothing denied they are equal, and stay so (facts and
        # quantities add to both).
        present = set(evidence)
        return _Matches(present, present, evidence, {})
    present: set[int] = set()
    present_denied: set[int] = set()
    suppressed: dict[int, str] = {}
    for tid, start, end in hits:
        if negated[start]:
            if tid not in suppressed:
                suppressed[tid] = _words(surfaces, start, end)
            continue
        present_denied.add(tid)
        if tid not in evidence:
            evidence[tid] = _words(surfaces, start, end)
        if denied_clauses and clauses[start] in denied_clauses and tid not in denial_ids:
            suppressed.setdefault(tid, evidence[tid])
        else:
            present.add(tid)
    return _Matches(present, present_denied, evidence, suppressed)


def _words(surfaces: tuple[str, ...], start: int, end: int) -> str:
    return " ".join(surfaces[start:end])


def _quantities(doc: Analysed) -> list[tuple[str, int, str]]:
    """(unit stem, value, words) for each number followed by a unit word ("60 TPS",
    "ratusan TPS", "50 lebih TPS")."""
    out = []
    stems, surfaces = doc.stems, doc.surfaces
    n = len(stems)
    for i, value in doc.quantities:
        if i + 1 >= n:
            continue
        j = i + 2 if stems[i + 1] in _QUANTITY_FILLERS and i + 2 < n else i + 1
        out.append((stems[j], value, " ".join(surfaces[i : j + 1])))
    return out


def _apply_facts(rules: Ruleset, doc: Analysed, m: _Matches) -> None:
    quantities = _quantities(doc) if doc.quantities else []
    index = rules.fact_index
    candidates: set[int] = set()
    for tid in m.present_denied:
        if tid in index:
            candidates.update(index[tid])
    if quantities:
        candidates.update(rules.quantity_facts)
    if not candidates:
        return
    present, present_denied, evidence = m.present, m.present_denied, m.evidence
    found = set(evidence)  # before any fact adds its own
    for position in sorted(candidates):
        fact = rules.facts[position]
        ids = fact.term_ids
        if not present_denied.isdisjoint(ids):
            present_denied.add(fact.id)
            if not present.isdisjoint(ids):
                present.add(fact.id)
            # Its evidence: that of the lowest of its ids found by term matching.
            hits = ids.intersection(found)
            if hits:
                evidence.setdefault(fact.id, evidence[min(hits)])
        if fact.minimum_by_unit:
            for unit, value, words in quantities:
                minimum = fact.minimum_by_unit.get(unit)
                if minimum is not None and value >= minimum:
                    present.add(fact.id)
                    present_denied.add(fact.id)
                    evidence.setdefault(fact.id, words)
                    break


def _holds(cond: Condition, present: set[int]) -> bool:
    if cond.any and present.isdisjoint(cond.any):
        return False
    for group in cond.all:
        if present.isdisjoint(group):
            return False
    return not cond.none or present.isdisjoint(cond.none)


def _fired(kind: str, cond: Condition, m: _Matches) -> FiredSignal:
    """The signal with its evidence: the words of the ids it mentions that are present,
    in id order, each once."""
    evidence = m.evidence
    ids = cond.refs.intersection(m.present if cond.deniable else m.present_denied)
    if len(ids) == 1:
        (only,) = ids
        words: tuple[str, ...] = (evidence[only],) if only in evidence else ()
    else:
        words = tuple(dict.fromkeys([evidence[i] for i in sorted(ids) if i in evidence]))
    return FiredSignal(
        cond.id,
        kind,
        cond.label.id,
        cond.label.en,
        words,
        cond.weight,
        cond.level if kind == "severity" else None,
    )


def _candidates(index: dict[int, tuple[int, ...]], present: set[int]) -> list[int]:
    """Positions (ascending, each once) of the conditions that mention a present id:
    only those can fire."""
    found = [index[i] for i in present if i in index]
    if not found:
        return []
    if len(found) == 1:
        return list(found[0])
    return sorted(set(chain.from_iterable(found)))


def _score(
    rules: Ruleset, m: _Matches, hint: str | None
) -> tuple[dict[str, float], list[tuple[CompiledCategory, Condition]]]:
    """Each category's score (keyed by its slug's text, in the order categories first
    fired) and the signals that fired."""
    scores: dict[str, float] = {}
    fired: list[tuple[CompiledCategory, Condition]] = []
    present, present_denied = m.present, m.present_denied
    signals = rules.category_signals
    for position in _candidates(rules.signal_index, present_denied):
        cat, sig = signals[position]
        ids = present if sig.deniable else present_denied
        if sig.any_only:
            if ids.isdisjoint(sig.any):
                continue
        elif not _holds(sig, ids):
            continue
        name = cat.name
        scores[name] = scores.get(name, 0.0) + sig.weight
        fired.append((cat, sig))
    if hint is not None and hint in scores:
        scores[hint] += rules.thresholds.hint_weight
    return scores, fired


def _rank_key(order: dict[Category, int]) -> Callable[[tuple[str, float]], tuple[float, int]]:
    return lambda kv: (-kv[1], order[kv[0]])  # type: ignore[index]


def _choose(
    rules: Ruleset, scores: dict[str, float]
) -> tuple[CompiledCategory, tuple[Category, ...], float]:
    """The primary category, the secondary ones and the confidence. ``Category`` is a
    ``StrEnum``: its members and their texts are equal and hash alike, so the scores'
    text keys find the categories' entries."""
    by_slug: dict[str, CompiledCategory] = rules.by_slug  # type: ignore[assignment]
    th = rules.thresholds
    if len(scores) > 1:
        ranked = sorted(scores.items(), key=_rank_key(rules.category_order))
        incidents = [(c, s) for c, s in ranked if c != _NOT_AN_INCIDENT]
    else:
        incidents = [(c, s) for c, s in scores.items() if c != _NOT_AN_INCIDENT]
    calm = scores.get(_NOT_AN_INCIDENT, 0.0)
    if not incidents or incidents[0][1] < th.incident_min_score or calm > incidents[0][1]:
        top = incidents[0][1] if incidents else 0.0
        # Sure when nothing incident-like occurred, less so when a weak signal did.
        confidence = 0.5 + 0.4 * max(0.0, 1 - top / th.incident_min_score)
        confidence = min(0.95, confidence + 0.05 * calm)
        return by_slug[_NOT_AN_INCIDENT], (), confidence
    primary, best = incidents[0]
    if len(incidents) > 1:
        second = incidents[1][1]
        secondary = tuple(
            by_slug[c].slug
            for c, s in incidents[1:]
            if s >= th.secondary_min_score and s >= th.secondary_ratio * best
        )[: th.max_secondary]
    else:
        second, secondary = 0.0, ()
    strength = best / (best + th.incident_min_score)
    margin = (best - second) / best
    confidence = strength * (0.6 + 0.4 * margin)
    return by_slug[primary], secondary, confidence


def _severity(
    rules: Ruleset, cat: CompiledCategory, m: _Matches
) -> tuple[Severity, list[FiredSignal]]:
    if cat.slug == _NOT_AN_INCIDENT:
        return _LOW, []
    baseline = cat.baseline
    candidates = _candidates(rules.severity_index, m.present_denied)
    if not candidates:
        return baseline, []
    level: Severity | None = None
    fired: list[FiredSignal] = []
    slug, present, present_denied = cat.slug, m.present, m.present_denied
    severity = rules.severity
    for position in candidates:
        sig = severity[position]
        if sig.categories and slug not in sig.categories:
            continue
        if not _holds(sig, present if sig.deniable else present_denied):
            continue
        fired.append(_fired("severity", sig, m))
        if sig.cap:
            baseline = min(baseline, sig.level, key=_RANK)
        elif level is None or sig.level.rank > level.rank:
            level = sig.level
    if level is None or baseline.rank > level.rank:
        level = baseline
    return level, fired


def _quote(words: tuple[str, ...]) -> str:
    return f"“{'”, “'.join(words)}”" if words else ""


def _signal_texts(signals: list[FiredSignal]) -> tuple[str, str]:
    """'label (“word”, “word”); label (“word”)' in Indonesian and in English."""
    if len(signals) == 1:
        (s,) = signals
        quoted = _quote(s.evidence)
        return f"{s.label_id} ({quoted})", f"{s.label_en} ({quoted})"
    texts_id, texts_en = [], []
    for s in signals:
        quoted = _quote(s.evidence)
        texts_id.append(f"{s.label_id} ({quoted})")
        texts_en.append(f"{s.label_en} ({quoted})")
    return "; ".join(texts_id), "; ".join(texts_en)


def _explain(
    cat: CompiledCategory,
    secondary: tuple[Category, ...],
    severity: Severity,
    cat_signals: list[FiredSignal],
    sev_signals: list[FiredSignal],
    suppressed: tuple[str, ...],
    rules: Ruleset,
) -> tuple[str, str]:
    label = cat.label
    if cat_signals:
        sig_id, sig_en = _signal_texts(cat_signals)
        text_id = f"Kategori {label.id}: {sig_id}."
        text_en = f"Category {label.en}: {sig_en}."
    else:
        text_id = f"Kategori {label.id}: tidak ada sinyal insiden yang cukup kuat."
        text_en = f"Category {label.en}: no incident signal strong enough."
    if secondary:
        labels = [rules.by_slug[c].label for c in secondary]
        text_id += " Kategori tambahan: " + ", ".join(lb.id for lb in labels) + "."
        text_en += " Secondary: " + ", ".join(lb.en for lb in labels) + "."
    if sev_signals:
        sev_id, sev_en = _signal_texts(sev_signals)
        text_id += f" Keparahan {_SEVERITY_ID[severity]}: {sev_id}."
        text_en += f" Severity {_SEVERITY_EN[severity]}: {sev_en}."
    else:
        text_id += f" Keparahan {_SEVERITY_ID[severity]}: bawaan kategori."
        text_en += f" Severity {_SEVERITY_EN[severity]}: category default."
    if suppressed:
        quoted_suppressed = _quote(suppressed)
        text_id += f" Diabaikan karena dinegasi atau dibantah: {quoted_suppressed}."
        text_en += f" Ignored as negated or denied: {quoted_suppressed}."
    return text_id, text_en


def classify(report: ReportInput, rules: Ruleset) -> Classification:
    """Classify one report with one rule set. Pure and deterministic."""
    text = report.text if not report.title else f"{report.title}.\n{report.text}"
    doc = rules.analyser.analyse(text[:MAX_TEXT_CHARS])
    m = _match_terms(rules, doc)
    _apply_facts(rules, doc, m)
    scores, fired = _score(rules, m, report.category_hint)
    cat, secondary, confidence = _choose(rules, scores)
    severity, sev_signals = _severity(rules, cat, m)
    # Only the primary category's signals are explained, so only they get evidence.
    kind = cat.kind
    cat_signals: list[FiredSignal] = []
    institutions = cat.institutions  # without repeats (rules.py)
    extra: list[str] = []
    for owner, sig in fired:
        if owner is cat:
            cat_signals.append(_fired(kind, sig, m))
            if sig.institutions:
                extra += sig.institutions
    if extra:
        institutions = tuple(dict.fromkeys(institutions + tuple(extra)))
    suppressed = (
        tuple(dict.fromkeys(w for tid, w in sorted(m.suppressed.items()) if tid not in m.present))
        if m.suppressed
        else ()
    )
    explanation, explanation_en = _explain(
        cat, secondary, severity, cat_signals, sev_signals, suppressed, rules
    )
    return Classification(
        cat.slug,
        secondary,
        severity,
        round(min(max(confidence, 0.0), 1.0), 3),
        institutions,
        explanation,
        explanation_en,
        rules.version,
        scores,
        tuple(cat_signals + sev_signals) if sev_signals else tuple(cat_signals),
        suppressed,
    )
