"""Properties over arbitrary input: any Unicode text classifies without an exception,
deterministically, into the contract's value space."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantau.classifier.core import ReportInput, Ruleset, classify
from pantau.shared.events import Category, Severity

# Arbitrary Unicode, plus text assembled from words the rules know, so the property
# also reaches negation, denial, quantities and every signal path.
WORDS = [
    "banjir",
    "tidak",
    "bukan",
    "hoaks",
    "TPS",
    "50",
    "ratusan",
    "serangan",
    "fajar",
    "amplop",
    "kades",
    "kampanye",
    "masjid",
    "KPPS",
    "mencoblos",
    "dua",
    "kali",
    "PSU",
    "tewas",
    "dibakar",
    "Sirekap",
    "error",
    "DPT",
    "ditunda",
    "seluruh",
    "kecamatan",
    "karena",
    ",",
    ".",
    "yang",
    "kalau",
    "gak",
    "nyoblos",
    "ｂａｎｊｉｒ",
    "BANJIIIR",
    "bagi2",
    "1.200",
    "tps05",
    "\n",
    "🙂",
]
texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join),
)
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(text=texts, title=st.one_of(st.none(), st.text(max_size=50)), hint=st.text(max_size=30))
def test_any_text_classifies_deterministically(
    rules: Ruleset, text: str, title: str | None, hint: str
) -> None:
    report = ReportInput(text=text, title=title, category_hint=hint)
    first = classify(report, rules)
    assert classify(report, rules) == first
    assert first.category in Category
    assert first.severity in Severity
    assert set(first.secondary_categories) <= set(Category) - {first.category}
    assert 0.0 <= first.confidence <= 1.0
    assert first.explanation and first.rules_version == rules.version
    if first.category == Category.NOT_AN_INCIDENT:
        assert first.severity == Severity.LOW and first.institutions == ()


@SETTINGS
@given(text=texts)
def test_case_and_stretched_letters_do_not_matter(rules: Ruleset, text: str) -> None:
    lower = classify(ReportInput(text=text.lower()), rules)
    upper = classify(ReportInput(text=text.upper()), rules)
    assert (upper.category, upper.severity) == (lower.category, lower.severity)
