"""A bad rules file fails loudly, naming the line at fault."""

from pathlib import Path

import pytest

from pantau.classifier.core import RulesError, load_rules, parse_rules
from pantau.classifier.core.rules import DEFAULT_RULES_PATH

GOOD = DEFAULT_RULES_PATH.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(n for n, row in enumerate(text.splitlines(), 1) if needle in row)


def test_packaged_rules_load(rules) -> None:
    assert rules.version
    assert len(rules.categories) == 13


def test_yaml_syntax_error_names_the_line() -> None:
    broken = GOOD.replace("  negation_window: 4", "  negation_window: [4", 1)
    with pytest.raises(RulesError, match=r"rules\.yaml:\d+: YAML syntax error"):
        parse_rules(broken, source="rules.yaml")


def test_unknown_key_names_its_line() -> None:
    broken = GOOD.replace("    baseline_severity: medium", "    baseline_sevrity: medium", 1)
    line = line_of(broken, "baseline_sevrity")
    with pytest.raises(RulesError) as err:
        parse_rules(broken, source="rules.yaml")
    assert f"rules.yaml:{line}:" in str(err.value)


def test_bad_value_names_its_line() -> None:
    broken = GOOD.replace("        weight: 3\n", "        weight: lots\n", 1)
    line = line_of(broken, "weight: lots")
    with pytest.raises(RulesError, match=rf"rules\.yaml:{line}: .*weight"):
        parse_rules(broken, source="rules.yaml")


def test_unknown_severity_level_names_its_line() -> None:
    broken = GOOD.replace("    level: critical\n", "    level: catastrophic\n", 1)
    line = line_of(broken, "level: catastrophic")
    with pytest.raises(RulesError, match=rf"rules\.yaml:{line}: .*level"):
        parse_rules(broken, source="rules.yaml")


def test_unknown_fact_reference_names_its_line() -> None:
    broken = GOOD.replace('["@money"]', '["@mony"]', 1)
    line = line_of(broken, "@mony")
    with pytest.raises(RulesError, match=rf"rules\.yaml:{line}: .*unknown fact"):
        parse_rules(broken, source="rules.yaml")


def test_missing_category_is_reported() -> None:
    start = GOOD.index("  - slug: hoaks")
    end = GOOD.index("  - slug: gangguan_teknis")
    with pytest.raises(RulesError, match="categories missing: \\['hoaks'\\]"):
        parse_rules(GOOD[:start] + GOOD[end:], source="rules.yaml")


def test_words_like_no_stay_words() -> None:
    # YAML 1.1 would read `no` as false; a negator list must keep the word.
    assert "no" in parse_rules(GOOD).analyser.lexicon.negators


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.yaml")
