"""``classify(report, rules) -> Classification``: a pure, deterministic function.

Steps: analyse the text (normalise, stem, negation scope); find every rule term that
occurs, ignoring occurrences inside a negation scope and, for deniable signals, inside
a clause that denies or calls the claim a hoax; evaluate facts (terms or quantities
such as "60 TPS"); score categories by the weights of the signals that fired; derive
severity from severity signals, falling back to the primary category's baseline; and
explain in Indonesian (and English) which signals fired.
"""

from dataclasses import dataclass, field
from itertools import compress

from pantau.classifier.core.rules import CompiledCategory, Condition, Ruleset
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
    ordered: list[tuple[int, str]] | None = None
    """``evidence`` sorted by id, made once when the first explanation needs it."""


def _longest(
    hits: list[tuple[int, int, int]],
    phrase_hits: list[tuple[int, int, int]],
    severity_only: frozenset[int],
) -> list[tuple[int, int, int]]:
    """Drop hits lying strictly inside a longer hit: "serangan fajar" is not an attack,
    and "surat suara kurang" is not "suara (ber)kurang". Phrases used only by severity
    signals cover nothing: they grade an incident, they do not say what it is."""
    spans = [(s, e) for t, s, e in phrase_hits if t not in severity_only]
    if not spans:
        return hits
    covered = {i for s, e in spans for i in range(s, e)}
    return [
        h
        for h in hits
        if (h[2] - h[1] == 1 and h[1] not in covered)
        or (
            h[2] - h[1] > 1
            and not any(s <= h[1] and h[2] <= e and e - s > h[2] - h[1] for s, e in spans)
        )
    ]


def _find_hits(
    rules: Ruleset, stems: tuple[str, ...]
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(term id, start, end) of every rule term occurring in the stems; and of the
    phrases (several stems) among them."""
    index = rules.term_index
    hits: list[tuple[int, int, int]] = []
    phrase_hits: list[tuple[int, int, int]] = []
    n = len(stems)
    # ``compress`` picks the positions of indexed stems without a Python-level loop
    # over every token (most tokens start no term).
    for i in compress(range(n), map(index.__contains__, stems)):
        unigram_ids, phrases = index[stems[i]]
        for tid in unigram_ids:
            hits.append((tid, i, i + 1))
        if phrases and i + 1 < n:
            for seq, tid in phrases.get(stems[i + 1], ()):
                end = i + len(seq)
                if end <= n and stems[i:end] == seq:
                    hits.append((tid, i, end))
                    phrase_hits.append((tid, i, end))
    return hits, phrase_hits


def _match_terms(rules: Ruleset, doc: Analysed) -> _Matches:
    negated, surfaces = doc.negated, doc.surfaces
    hits, phrase_hits = _find_hits(rules, doc.stems)
    if phrase_hits and len(hits) > 1:
        hits = _longest(hits, phrase_hits, rules.severity_only)
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
        return _Matches(set(evidence), set(evidence), evidence, {})
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
    found = sorted(m.evidence)
    for position in sorted(candidates):
        fact = rules.facts[position]
        ids = fact.term_ids
        if not m.present_denied.isdisjoint(ids):
            m.present_denied.add(fact.id)
            if not m.present.isdisjoint(ids):
                m.present.add(fact.id)
            hit = _first_in(found, ids)
            if hit is not None:
                m.evidence.setdefault(fact.id, m.evidence[hit])
        if fact.minimum_by_unit:
            for unit, value, words in quantities:
                minimum = fact.minimum_by_unit.get(unit)
                if minimum is not None and value >= minimum:
                    m.present.add(fact.id)
                    m.present_denied.add(fact.id)
                    m.evidence.setdefault(fact.id, words)
                    break


def _first_in(ids: list[int], wanted: frozenset[int]) -> int | None:
    for i in ids:
        if i in wanted:
            return i
    return None


def _fires(cond: Condition, m: _Matches) -> bool:
    return _holds(cond, m.present if cond.deniable else m.present_denied)


def _holds(cond: Condition, present: set[int]) -> bool:
    if cond.any and present.isdisjoint(cond.any):
        return False
    for group in cond.all:
        if present.isdisjoint(group):
            return False
    return not cond.none or present.isdisjoint(cond.none)


def _evidence(cond: Condition, m: _Matches) -> tuple[str, ...]:
    present = m.present if cond.deniable else m.present_denied
    refs = cond.refs
    if m.ordered is None:
        m.ordered = sorted(m.evidence.items())
    words = [w for i, w in m.ordered if i in refs and i in present]
    return tuple(dict.fromkeys(words))


def _fired(kind: str, cond: Condition, m: _Matches) -> FiredSignal:
    return FiredSignal(
        id=cond.id,
        kind=kind,
        label_id=cond.label.id,
        label_en=cond.label.en,
        evidence=_evidence(cond, m),
        weight=cond.weight,
        level=cond.level if kind == "severity" else None,
    )


def _score(
    rules: Ruleset, m: _Matches, hint: str | None
) -> tuple[dict[Category, float], list[tuple[CompiledCategory, Condition]]]:
    scores: dict[Category, float] = {}
    fired: list[tuple[CompiledCategory, Condition]] = []
    # Only signals that mention something present can fire: look up just those.
    index = rules.signal_index
    candidates = sorted({c for i in m.present_denied if i in index for c in index[i]})
    categories, present, present_denied = rules.categories, m.present, m.present_denied
    for ci, si in candidates:
        cat = categories[ci]
        sig = cat.signals[si]
        if _holds(sig, present if sig.deniable else present_denied):
            scores[cat.slug] = scores.get(cat.slug, 0.0) + sig.weight
            fired.append((cat, sig))
    if hint is not None and hint in scores:
        scores[Category(hint)] += rules.thresholds.hint_weight
    return scores, fired


def _choose(
    rules: Ruleset, scores: dict[Category, float]
) -> tuple[CompiledCategory, tuple[Category, ...], float]:
    th = rules.thresholds
    order = rules.category_order
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
    incidents = [(c, s) for c, s in ranked if c != _NOT_AN_INCIDENT]
    calm = scores.get(_NOT_AN_INCIDENT, 0.0)
    if not incidents or incidents[0][1] < th.incident_min_score or calm > incidents[0][1]:
        top = incidents[0][1] if incidents else 0.0
        # Sure when nothing incident-like occurred, less so when a weak signal did.
        confidence = 0.5 + 0.4 * max(0.0, 1 - top / th.incident_min_score)
        confidence = min(0.95, confidence + 0.05 * calm)
        return rules.category(_NOT_AN_INCIDENT), (), confidence
    primary, best = incidents[0]
    second = incidents[1][1] if len(incidents) > 1 else 0.0
    secondary = tuple(
        c
        for c, s in incidents[1:]
        if s >= th.secondary_min_score and s >= th.secondary_ratio * best
    )[: th.max_secondary]
    strength = best / (best + th.incident_min_score)
    margin = (best - second) / best
    confidence = strength * (0.6 + 0.4 * margin)
    return rules.category(primary), secondary, confidence


def _severity(
    rules: Ruleset, cat: CompiledCategory, m: _Matches
) -> tuple[Severity, list[FiredSignal]]:
    if cat.slug == _NOT_AN_INCIDENT:
        return _LOW, []
    baseline = cat.baseline
    level: Severity | None = None
    fired: list[FiredSignal] = []
    slug, present, present_denied = cat.slug, m.present, m.present_denied
    for sig in rules.severity:
        if sig.categories and slug not in sig.categories:
            continue
        if not _holds(sig, present if sig.deniable else present_denied):
            continue
        fired.append(_fired("severity", sig, m))
        if sig.cap:
            baseline = min(baseline, sig.level, key=lambda s: s.rank)
        elif level is None or sig.level.rank > level.rank:
            level = sig.level
    if level is None or baseline.rank > level.rank:
        level = baseline
    return level, fired


def _quote(words: tuple[str, ...]) -> str:
    return f"“{'”, “'.join(words)}”" if words else ""


def _signal_texts(signals: list[FiredSignal]) -> tuple[str, str]:
    """'label (“word”, “word”); label (“word”)' in Indonesian and in English."""
    texts_id, texts_en = [], []
    for s in signals:
        quoted = _quote(s.evidence)
        texts_id.append(f"{s.label_id} ({quoted})")
        texts_en.append(f"{s.label_en} ({quoted})")
    return "; ".join(texts_id), "; ".join(texts_en)


def _explain(
    *,
    cat: CompiledCategory,
    secondary: tuple[Category, ...],
    severity: Severity,
    cat_signals: list[FiredSignal],
    sev_signals: list[FiredSignal],
    suppressed: tuple[str, ...],
    rules: Ruleset,
) -> tuple[str, str]:
    parts_id, parts_en = [], []
    if cat_signals:
        sig_id, sig_en = _signal_texts(cat_signals)
        parts_id.append(f"Kategori {cat.label.id}: {sig_id}.")
        parts_en.append(f"Category {cat.label.en}: {sig_en}.")
    else:
        parts_id.append(f"Kategori {cat.label.id}: tidak ada sinyal insiden yang cukup kuat.")
        parts_en.append(f"Category {cat.label.en}: no incident signal strong enough.")
    if secondary:
        labels = [rules.category(c).label for c in secondary]
        parts_id.append("Kategori tambahan: " + ", ".join(lb.id for lb in labels) + ".")
        parts_en.append("Secondary: " + ", ".join(lb.en for lb in labels) + ".")
    if sev_signals:
        sev_id, sev_en = _signal_texts(sev_signals)
        parts_id.append(f"Keparahan {_SEVERITY_ID[severity]}: {sev_id}.")
        parts_en.append(f"Severity {_SEVERITY_EN[severity]}: {sev_en}.")
    else:
        parts_id.append(f"Keparahan {_SEVERITY_ID[severity]}: bawaan kategori.")
        parts_en.append(f"Severity {_SEVERITY_EN[severity]}: category default.")
    if suppressed:
        quoted_suppressed = _quote(suppressed)
        parts_id.append(f"Diabaikan karena dinegasi atau dibantah: {quoted_suppressed}.")
        parts_en.append(f"Ignored as negated or denied: {quoted_suppressed}.")
    return " ".join(parts_id), " ".join(parts_en)


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
    institutions = list(cat.institutions)
    for owner, sig in fired:
        if owner is cat:
            cat_signals.append(_fired(kind, sig, m))
            if sig.institutions:
                institutions.extend(sig.institutions)
    suppressed = (
        tuple(dict.fromkeys(w for tid, w in sorted(m.suppressed.items()) if tid not in m.present))
        if m.suppressed
        else ()
    )
    explanation, explanation_en = _explain(
        cat=cat,
        secondary=secondary,
        severity=severity,
        cat_signals=cat_signals,
        sev_signals=sev_signals,
        suppressed=suppressed,
        rules=rules,
    )
    return Classification(
        category=cat.slug,
        secondary_categories=secondary,
        severity=severity,
        confidence=round(min(max(confidence, 0.0), 1.0), 3),
        institutions=tuple(dict.fromkeys(institutions)),
        explanation=explanation,
        explanation_en=explanation_en,
        rules_version=rules.version,
        scores=dict(zip(map(str, scores), scores.values(), strict=True)),
        signals=tuple(cat_signals + sev_signals),
        suppressed=suppressed,
    )
