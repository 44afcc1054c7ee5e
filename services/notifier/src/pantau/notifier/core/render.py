"""Alert messages from Jinja2 templates: Indonesian by default, English on request.

Input is ``ReportFacts`` only, which carries no reporter identity, so no template can
leak it.
"""

from collections import Counter
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined

from pantau.notifier.core.models import Language, RenderedMessage, ReportFacts
from pantau.notifier.core.wording import (
    CATEGORY_WORDS,
    KIND_WORDS,
    SEVERITY_WORDS,
    local_time,
)
from pantau.shared import regions
from pantau.shared.events import AlertKind, Category, Severity

WORST_CASES_SHOWN = 5
DESCRIPTION_LIMIT = 500


@dataclass(frozen=True)
class LinkBuilder:
    """Links in messages: the report on reporting, the acknowledgement on the notifier."""

    reporting_base_url: str

    def report(self, report_id: str) -> str:
        return f"{self.reporting_base_url.rstrip('/')}/v1/reports/{report_id}"


def region_path(code: str) -> str:
    """``Cibinong, Kabupaten Bogor, Jawa Barat (32.01.01)``."""
    names = [regions.name(c) or c for c in regions.ancestors(code)]
    return f"{', '.join(names)} ({code})"


class Renderer:
    """Renders one message for one recipient language from one or more reports."""

    def __init__(self, *, links: LinkBuilder) -> None:
        self._links = links
        self._env = Environment(
            loader=PackageLoader("pantau.notifier", "templates"),
            undefined=StrictUndefined,
            # Plain-text messages: nothing is interpreted as HTML, and escaping would
            # garble reporters' text.
            autoescape=False,  # noqa: S701
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(
        self,
        *,
        reports: list[ReportFacts],
        kind: AlertKind,
        language: Language,
        ack_url: str | None = None,
        escalation_level: int = 0,
    ) -> RenderedMessage:
        # report_id breaks ties, so the same reports give the same message in any order.
        ordered = sorted(reports, key=lambda r: (-r.severity.rank, r.received_at, r.report_id))
        worst = ordered[0]
        words_cat = CATEGORY_WORDS[language]
        words_sev = SEVERITY_WORDS[language]
        counts = Counter(r.severity for r in reports)
        context = {
            "kind": KIND_WORDS[language][kind],
            "escalation_level": escalation_level,
            "count": len(reports),
            "category": words_cat[worst.category],
            "severity": words_sev[worst.severity],
            "regency": region_path(worst.regency),
            "counts": [
                (words_sev[s], counts[s])
                for s in (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
                if counts[s]
            ],
            "cases": [self._case(r, language) for r in ordered[:WORST_CASES_SHOWN]],
            "more": max(0, len(ordered) - WORST_CASES_SHOWN),
            "ack_url": ack_url,
        }
        text = self._env.get_template(f"alert.{language.value}.txt.j2").render(context)
        subject = self._subject(reports=ordered, kind=kind, language=language)
        return RenderedMessage(
            subject=subject,
            text=text,
            data={
                "report_ids": [r.report_id for r in ordered],
                "category": worst.category.value,
                "severity": worst.severity.value,
                "regency": worst.regency,
                "count": len(reports),
                "links": [self._links.report(r.report_id) for r in ordered[:WORST_CASES_SHOWN]],
                "ack_url": ack_url,
            },
        )

    def _case(self, report: ReportFacts, language: Language) -> dict[str, object]:
        description = report.description
        if len(description) > DESCRIPTION_LIMIT:
            description = description[: DESCRIPTION_LIMIT - 1] + "…"
        return {
            "severity": SEVERITY_WORDS[language][report.severity],
            "category": CATEGORY_WORDS[language][report.category],
            "region": region_path(report.region_code),
            "tps": report.tps,
            "occurred": local_time(report.occurred_at, report.region_code),
            "title": report.title,
            "description": description,
            "link": self._links.report(report.report_id),
            "report_id": report.report_id,
        }

    def _subject(self, *, reports: list[ReportFacts], kind: AlertKind, language: Language) -> str:
        worst = reports[0]
        place = regions.name(worst.regency) or worst.regency
        kind_word = KIND_WORDS[language][kind]
        severity = SEVERITY_WORDS[language][worst.severity]
        category = CATEGORY_WORDS[language][worst.category]
        prep = "di" if language == Language.ID else "in"
        if len(reports) == 1:
            return f"[Pantau] {kind_word} {severity}: {category} {prep} {place}"[:200]
        many = f"{len(reports)} laporan" if language == Language.ID else f"{len(reports)} reports"
        return f"[Pantau] {kind_word} {severity}: {many} {category} {prep} {place}"[:200]


def category_word(category: Category, language: Language = Language.ID) -> str:
    """The category in words, for callers outside the templates (CLI explanations)."""
    return CATEGORY_WORDS[language][category]
