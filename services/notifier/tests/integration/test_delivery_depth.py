"""Routes, channels, outages, silences, acknowledgement and escalation, end to end on the
real broker and store, a real SMTP server, a real webhook receiver and a Telegram stand-in."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from pantau.localstack.testing import wait_for
from pantau.notifier.inject import Overrides
from pantau.notifier.testing import FakeClock
from pantau.shared import testing
from pantau.shared.auth import Role
from pantau.shared.events import AlertEvent, Category, Severity

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROUTES = """
recipients:
  - {{id: kpu-bogor, name: KPU Bogor, institution: KPU, region: "32.01",
     channels: [{{channel: email, target: kpu-bogor@{tag}.test}},
                {{channel: telegram, target: "-100777"}}]}}
  - {{id: kpu-bogor-ketua, name: Ketua KPU Bogor, institution: KPU, region: "32.01",
     contact_order: 1, channels: [{{channel: email, target: ketua@{tag}.test}}]}}
  - {{id: kpu-jabar, name: KPU Jabar, institution: KPU, region: "32",
     channels: [{{channel: email, target: kpu-jabar@{tag}.test}}]}}
  - {{id: bawaslu-bogor, name: Bawaslu Bogor, institution: Bawaslu, region: "32.01",
     language: en,
     channels: [{{channel: webhook, target: "{hook}/hooks/bawaslu",
                 secret_env: PANTAU_TEST_WEBHOOK_SECRET}}]}}
  - {{id: wa-gateway-bogor, name: WhatsApp gateway Bogor, institution: Komdigi, region: "32.01",
     channels: [{{channel: apprise, target: "json://{hook_hostport}/apprise/wa"}}]}}
  - {{id: bpbd-surabaya, name: BPBD Surabaya, institution: BPBD, region: "35.78",
     channels: [{{channel: email, target: bpbd-sby@{tag}.test}}]}}
routes:
  - {{id: bogor-kpu, region: "32.01", categories: [bencana_alam, logistik],
     recipients: [kpu-bogor]}}
  - {{id: bogor-bawaslu, region: "32.01", min_severity: high, recipients: [bawaslu-bogor]}}
  - {{id: jabar-kpu, region: "32", min_severity: high, recipients: [kpu-jabar]}}
  - {{id: surabaya, region: "35.78", recipients: [bpbd-surabaya]}}
  - {{id: bogor-hoaks, region: "32.01", categories: [hoaks], recipients: [wa-gateway-bogor]}}
"""


def _mails(sink, *, to: str | None = None, containing: str | None = None):
    return [
        m
        for m in sink.messages()
        if (to is None or m["To"] == to) and (containing is None or containing in m.get_content())
    ]


async def _now(value):
    return value


@pytest.fixture
def routed(tmp_path: Path, notifier_config, local_receiver, monkeypatch):
    """A config with a routes file, Telegram pointed at the local stand-in."""
    monkeypatch.setenv("PANTAU_TEST_WEBHOOK_SECRET", local_receiver.webhook_secret)
    tag = tmp_path.name.replace("_", "-")[-20:]
    path = tmp_path / "routes.yaml"
    path.write_text(
        ROUTES.format(
            tag=tag,
            hook=local_receiver.base_url,
            hook_hostport=local_receiver.base_url.removeprefix("http://"),
        )
    )

    def build(**overrides):
        return notifier_config(
            notifier_routes_file=path,
            telegram_api_base=local_receiver.base_url,
            telegram_bot_token="123456:test-token",
            **overrides,
        )

    build.tag = tag  # type: ignore[attr-defined]
    build.path = path  # type: ignore[attr-defined]
    return build


async def test_a_critical_report_reaches_exactly_its_recipients_once(
    routed, notifier_runner, smtp_sink, local_receiver
):
    tag = routed.tag
    config = routed()
    local_receiver.telegram_throttle_first = 1  # the first sendMessage gets a 429
    event = testing.classified(category=Category.BENCANA_ALAM, severity=Severity.CRITICAL)
    report_id = event.data.report_id
    async with notifier_runner(config) as running:
        await running.publish(event)

        async def everything_arrived():
            mails = _mails(smtp_sink, containing=report_id)
            hooks = [w for w in local_receiver.webhooks if report_id in w["report_ids"]]
            chats = [t for t in local_receiver.telegram if report_id in t["text"]]
            return (mails, hooks, chats) if mails and hooks and chats else None

        mails, hooks, chats = await wait_for(everything_arrived, timeout=30)
        # KPU Bogor's route takes the place of KPU Jabar's (the most specific level wins
        # per institution); KPU Jabar is where escalation goes.
        assert [m["To"] for m in mails] == [f"kpu-bogor@{tag}.test"]
        [hook] = hooks
        assert hook["path"] == "/hooks/bawaslu" and hook["severity"] == "critical"
        assert hook["subject"].startswith("[Pantau] Alert CRITICAL")  # English for Bawaslu
        assert hook["ack_url"].startswith(f"{config.notifier_public_url}/v1/alerts/")
        [chat] = chats
        assert chat["chat_id"] == "-100777" and chat["token"] == "123456:test-token"
        assert local_receiver.telegram_calls == 2  # the 429 was retried after Retry-After
        assert local_receiver.rejected == []

        async def three_sent_events():
            events = [
                AlertEvent.model_validate_json(r.value)
                for r in running.alerts
                if r.key == report_id.encode()
            ]
            return events if len(events) == 3 else None

        events = await wait_for(three_sent_events)
        assert {(e.data.recipient_id, e.data.channel) for e in events} == {
            ("kpu-bogor", "email"),
            ("kpu-bogor", "telegram"),
            ("bawaslu-bogor", "webhook"),
        }
        assert {e.data.status.value for e in events} == {"sent"}

        # Kafka redelivers the same event: nothing new anywhere.
        await running.publish(event)
        marker = testing.classified(category=Category.LOGISTIK, severity=Severity.LOW)
        await running.publish(marker)
        await wait_for(lambda: _now(_mails(smtp_sink, containing=marker.data.report_id)))
        assert len(_mails(smtp_sink, containing=report_id)) == 1
        assert len([w for w in local_receiver.webhooks if report_id in w["report_ids"]]) == 1
        assert len([t for t in local_receiver.telegram if report_id in t["text"]]) == 1
        assert await running.db.deliveries.count_documents({"report_ids": report_id}) == 3
        # Surabaya's BPBD and KPU Jabar heard of neither report.
        assert _mails(smtp_sink, to=f"bpbd-sby@{tag}.test") == []
        assert _mails(smtp_sink, to=f"kpu-jabar@{tag}.test") == []


async def test_an_smtp_outage_is_retried_and_delivered_after_it_ends(
    notifier_config, notifier_runner, smtp_sink
):
    config = notifier_config(
        alert_email_to="outage@pantau.local",
        notifier_inline_attempts=2,
        notifier_max_attempts=1000,
        notifier_retry_max_seconds=0.3,
    )
    event = testing.classified(severity=Severity.MEDIUM)
    report_id = event.data.report_id
    async with notifier_runner(config) as running:
        smtp_sink.handler.refuse = True
        try:
            await running.publish(event)

            async def retried_a_few_times():
                row = await running.db.deliveries.find_one({"report_ids": report_id})
                return row if row and row["attempts"] >= 4 else None

            row = await wait_for(retried_a_few_times, timeout=30)
            assert row["status"] in ("retry_scheduled", "pending")
            assert "421" in row["error"]
            assert _mails(smtp_sink, containing=report_id) == []
        finally:
            smtp_sink.handler.refuse = False

        async def sent():
            row = await running.db.deliveries.find_one({"report_ids": report_id})
            return row if row and row["status"] == "sent" else None

        row = await wait_for(sent, timeout=30)
        assert len(_mails(smtp_sink, containing=report_id)) == 1
        assert row["attempt_log"][-1]["status"] == "sent"
        assert any("421" in (a["error"] or "") for a in row["attempt_log"])


async def test_a_silence_suppresses_and_records(notifier_config, notifier_runner, smtp_sink):
    config = notifier_config(alert_email_to="silenced@pantau.local")
    async with notifier_runner(config) as running:
        created = await running.http.post(
            "/v1/silences",
            json={"region": "32.01", "duration_minutes": 60, "reason": "latihan simulasi"},
            headers=running.token(),
        )
        assert created.status_code == 201, created.text
        silenced = testing.classified(severity=Severity.CRITICAL)  # Kabupaten Bogor
        elsewhere = testing.classified(testing.submitted(region="35.78.01"))  # Surabaya
        await running.publish(silenced)
        await running.publish(elsewhere)

        await wait_for(lambda: _now(_mails(smtp_sink, containing=elsewhere.data.report_id)))

        async def suppressed_event():
            return [
                AlertEvent.model_validate_json(r.value)
                for r in running.alerts
                if r.key == silenced.data.report_id.encode()
            ]

        [event] = await wait_for(suppressed_event)
        assert event.data.status.value == "suppressed"
        row = await running.db.deliveries.find_one({"report_ids": silenced.data.report_id})
        assert row["status"] == "suppressed" and "latihan simulasi" in row["note"]
        assert _mails(smtp_sink, containing=silenced.data.report_id) == []

        listed = await running.http.get(
            "/v1/alerts", params={"status": "suppressed"}, headers=running.token()
        )
        assert [i["report_ids"] for i in listed.json()["items"]] == [[silenced.data.report_id]]
        forbidden = await running.http.post(
            "/v1/silences",
            json={"category": "hoaks", "duration_minutes": 5, "reason": "x" * 5},
            headers=running.token(Role.LIAISON, region="32.01"),
        )
        assert forbidden.status_code == 403


async def test_acknowledgement_stops_escalation_and_silence_escalates_across_a_restart(
    routed, notifier_runner, smtp_sink, local_receiver
):
    tag = routed.tag
    clock = FakeClock()
    overrides = Overrides(clock=clock)
    config = routed(notifier_ack_minutes_high=30, notifier_public_url="http://placeholder")
    ignored = testing.classified(category=Category.LOGISTIK, severity=Severity.HIGH)
    acked = testing.classified(category=Category.LOGISTIK, severity=Severity.HIGH)

    async with notifier_runner(config, overrides=overrides) as running:
        await running.publish(ignored)
        await running.publish(acked)
        [mail] = await wait_for(
            lambda: _now(
                _mails(smtp_sink, to=f"kpu-bogor@{tag}.test", containing=acked.data.report_id)
            )
        )
        link = re.search(
            r"(http://placeholder/v1/alerts/(alr_[0-9a-f]+)/ack\?sig=[0-9a-f]+)", mail.get_content()
        )
        assert link, mail.get_content()
        path = link.group(1).removeprefix("http://placeholder")
        page = await running.http.get(path)
        assert page.status_code == 200 and "Konfirmasi" in page.text
        forged = await running.http.post(path[:-4] + "0000")
        assert forged.status_code == 403
        answer = await running.http.post(path)
        assert answer.status_code == 200, answer.text
        assert answer.json()["first"] is True
        assert answer.json()["acknowledged_by"] == "link:kpu-bogor"
        await wait_for(
            lambda: _now(
                _mails(smtp_sink, to=f"kpu-bogor@{tag}.test", containing=ignored.data.report_id)
            )
        )
        row = await running.db.escalations.find_one({"_id": ignored.data.report_id})
        assert row["status"] == "open" and row["step"] == 0

    # The notifier is down while the deadline passes; deadlines live in the store.
    clock.advance(minutes=31)
    async with notifier_runner(config, overrides=overrides) as running:

        async def escalated():
            ketua = _mails(smtp_sink, to=f"ketua@{tag}.test", containing=ignored.data.report_id)
            jabar = [
                m
                for m in _mails(
                    smtp_sink, to=f"kpu-jabar@{tag}.test", containing=ignored.data.report_id
                )
                if "ESKALASI" in m["Subject"]
            ]
            return (ketua, jabar) if ketua and jabar else None

        ketua, jabar = await wait_for(escalated, timeout=30)
        assert len(ketua) == 1 and len(jabar) == 1

        async def advanced():
            row = await running.db.escalations.find_one({"_id": ignored.data.report_id})
            return row if row and row["step"] == 1 else None

        row = await wait_for(advanced)
        assert row["deadline"] == clock() + timedelta(minutes=30)

        # The acknowledged report's deadline closed without escalating to anybody.
        async def closed():
            return await running.db.escalations_closed.find_one({"_id": acked.data.report_id})

        assert (await wait_for(closed))["step"] == 0
        assert _mails(smtp_sink, to=f"ketua@{tag}.test", containing=acked.data.report_id) == []

        async def ack_event():
            return [
                AlertEvent.model_validate_json(r.value)
                for r in running.alerts
                if r.key == acked.data.report_id.encode() and b'"acknowledged"' in r.value
            ]

        [event] = await wait_for(ack_event)
        assert event.data.status.value == "acknowledged"


async def test_a_storm_in_one_regency_is_grouped(notifier_config, notifier_runner, smtp_sink):
    config = notifier_config(alert_email_to="storm@pantau.local", notifier_group_window_seconds=3)
    storm = [
        testing.classified(
            category=Category.KEAMANAN,
            severity=Severity.CRITICAL if i in (0, 10) else Severity.HIGH,
        )
        for i in range(60)
    ]
    ids = {e.data.report_id for e in storm}
    async with notifier_runner(config) as running:
        for event in storm:
            await running.publish(event)

        def storm_mails():
            return [
                m
                for m in _mails(smtp_sink, to="storm@pantau.local")
                if any(i in m.get_content() for i in ids)
            ]

        async def grouped_arrived():
            mails = storm_mails()
            return mails if any("Pembaruan" in m["Subject"] for m in mails) else None

        async def all_reports_grouped():
            return await running.db.group_members.count_documents({}) == 60

        await wait_for(all_reports_grouped, timeout=60)
        await wait_for(grouped_arrived, timeout=60)

        async def all_reports_flushed():
            groups = await running.db.groups.find({}).to_list(None)
            return groups if groups and all(g["status"] == "flushed" for g in groups) else None

        groups = await wait_for(all_reports_flushed, timeout=30)
        mails = storm_mails()
        # Each window's group sends at most its first critical at once and one grouped
        # message; a slow machine may spread the storm over more than one window.
        assert 2 <= len(mails) <= 2 * len(groups), [m["Subject"] for m in mails]
        assert len(mails) <= len(storm) // 4, [m["Subject"] for m in mails]
        assert mails[0]["Subject"].startswith("[Pantau] Peringatan KRITIS: Keamanan")


async def test_the_apprise_channel_reaches_a_gateway(routed, notifier_runner, local_receiver):
    config = routed()
    event = testing.classified(category=Category.HOAKS, severity=Severity.MEDIUM)
    async with notifier_runner(config) as running:
        await running.publish(event)

        async def arrived():
            return [a for a in local_receiver.apprise if event.data.report_id in a["message"]]

        [message] = await wait_for(arrived)
        assert message["path"] == "/apprise/wa"
        assert message["title"].startswith("[Pantau] Peringatan SEDANG: Hoaks pemilu")
        row = await running.db.deliveries.find_one({"report_ids": event.data.report_id})
        assert row["channel"] == "apprise" and row["status"] == "sent"
