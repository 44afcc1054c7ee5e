"""Messages, signatures and token buckets."""

from dataclasses import replace
from datetime import UTC, datetime

from pantau.notifier.core.models import Language
from pantau.notifier.core.ratelimit import RateLimiter
from pantau.notifier.core.render import LinkBuilder, Renderer
from pantau.notifier.core.signing import (
    alert_id_for,
    sign_ack,
    sign_webhook,
    verify_ack,
    verify_webhook,
)
from pantau.notifier.core.wording import local_time
from pantau.shared.events import AlertKind, Category, Severity

RENDERER = Renderer(links=LinkBuilder(reporting_base_url="http://reporting.test/"))


class TestRender:
    def test_indonesian_by_default_with_names_words_and_link(self, make_facts):
        report = make_facts(category=Category.POLITIK_UANG, severity=Severity.CRITICAL)
        message = RENDERER.render(reports=[report], kind=AlertKind.INITIAL, language=Language.ID)
        assert message.subject == "[Pantau] Peringatan KRITIS: Politik uang di Kabupaten Bogor"
        assert "Karadenan, Cibinong, Kabupaten Bogor, Jawa Barat (32.01.01.1002)" in message.text
        assert f"http://reporting.test/v1/reports/{report.report_id}" in message.text
        assert "WIB" in message.text

    def test_english_on_request(self, make_facts):
        report = make_facts(category=Category.KEAMANAN, severity=Severity.HIGH)
        message = RENDERER.render(
            reports=[report], kind=AlertKind.ESCALATION, language=Language.EN, escalation_level=2
        )
        assert message.subject.startswith("[Pantau] ESCALATION HIGH: Security in")
        assert "(level 2)" in message.text and "Description:" in message.text

    def test_local_time_follows_the_region_zone(self):
        moment = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
        assert local_time(moment, "32.01") == "28-11-2026 10:00 WIB"
        assert local_time(moment, "73.71") == "28-11-2026 11:00 WITA"  # Makassar
        assert local_time(moment, "91.71") == "28-11-2026 12:00 WIT"  # Jayapura
        assert local_time(moment, "61.71") == "28-11-2026 10:00 WIB"  # Pontianak

    def test_grouped_message_lists_counts_and_worst_cases(self, make_facts):
        reports = [make_facts(severity=Severity.MEDIUM) for _ in range(8)]
        reports.append(make_facts(severity=Severity.CRITICAL))
        message = RENDERER.render(reports=reports, kind=AlertKind.UPDATE, language=Language.ID)
        assert "Jumlah laporan: 9 (KRITIS 1, SEDANG 8)" in message.text
        assert message.text.index("[KRITIS]") < message.text.index("[SEDANG]")
        assert "… dan 4 laporan lain." in message.text

    def test_equal_severity_and_time_are_ordered_by_report_id(self, make_facts):
        first = make_facts(severity=Severity.HIGH)
        reports = [replace(first, report_id=f"rpt_{n}", title=f"Kasus {n}") for n in "ba"]
        forward = RENDERER.render(reports=reports, kind=AlertKind.UPDATE, language=Language.ID)
        backward = RENDERER.render(
            reports=reports[::-1], kind=AlertKind.UPDATE, language=Language.ID
        )
        assert forward == backward
        assert forward.data["report_ids"] == ["rpt_a", "rpt_b"]
        assert forward.text.index("Kasus a") < forward.text.index("Kasus b")

    def test_long_descriptions_are_cut(self, make_facts):
        report = replace(make_facts(), description="x" * 2000)
        message = RENDERER.render(reports=[report], kind=AlertKind.INITIAL, language=Language.ID)
        assert "x" * 499 + "…" in message.text and "x" * 501 not in message.text


class TestSigning:
    def test_alert_ids_are_stable_per_ledger_key(self):
        one = alert_id_for(subject_id="r", recipient_id="a", channel="email", kind="initial")
        assert one == alert_id_for(
            subject_id="r", recipient_id="a", channel="email", kind="initial"
        )
        assert one != alert_id_for(
            subject_id="r", recipient_id="a", channel="webhook", kind="initial"
        )

    def test_ack_links_verify_only_for_their_alert(self):
        sig = sign_ack(secret="k" * 32, alert_id="alr_1")
        assert verify_ack(secret="k" * 32, alert_id="alr_1", signature=sig)
        assert not verify_ack(secret="k" * 32, alert_id="alr_2", signature=sig)
        assert not verify_ack(secret="j" * 32, alert_id="alr_1", signature=sig)

    def test_webhook_signatures_reject_tampering_and_replay(self):
        body = b'{"a":1}'
        sig = sign_webhook(secret="s", timestamp=1000, body=body)
        assert sig.startswith("sha256=")
        assert verify_webhook(secret="s", timestamp=1000, body=body, signature=sig, now=1100)
        assert not verify_webhook(
            secret="s", timestamp=1000, body=b'{"a":2}', signature=sig, now=1100
        )
        assert not verify_webhook(secret="s", timestamp=1000, body=body, signature=sig, now=2000)


class TestRateLimiter:
    def test_buckets_refill_over_time(self):
        now = [0.0]
        limiter = RateLimiter(
            monotonic=lambda: now[0],
            per_recipient_rate=1.0,
            per_recipient_burst=2,
            per_channel_rate=100.0,
            per_channel_burst=100,
        )
        assert limiter.acquire(recipient_id="a", channel="email") == 0
        assert limiter.acquire(recipient_id="a", channel="email") == 0
        assert limiter.acquire(recipient_id="a", channel="email") == 1.0
        assert limiter.acquire(recipient_id="b", channel="email") == 0  # per recipient
        now[0] = 1.0
        assert limiter.acquire(recipient_id="a", channel="email") == 0

    def test_the_channel_bucket_caps_everyone(self):
        limiter = RateLimiter(
            monotonic=lambda: 0.0,
            per_recipient_rate=1.0,
            per_recipient_burst=10,
            per_channel_rate=2.0,
            per_channel_burst=1,
        )
        assert limiter.acquire(recipient_id="a", channel="telegram") == 0
        assert limiter.acquire(recipient_id="b", channel="telegram") == 0.5
        assert limiter.acquire(recipient_id="b", channel="email") == 0
