"""The classifier's pure core: text analysis, the rules file and the classification."""

from pantau.classifier.core.engine import Classification, FiredSignal, ReportInput, classify
from pantau.classifier.core.rules import RulesError, Ruleset, load_rules, parse_rules

__all__ = [
    "Classification",
    "FiredSignal",
    "ReportInput",
    "RulesError",
    "Ruleset",
    "classify",
    "load_rules",
    "parse_rules",
]
