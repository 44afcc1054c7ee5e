"""SMS reports: the documented message format, tolerant parsing and the reply texts.

Format (case-insensitive; spaces, ``#``, ``,`` or ``;`` between parts; code with or
without dots; the ``TPS`` word optional)::

    LAPOR <kode wilayah> <nomor TPS> <isi laporan>
    LAPOR 32.01.01.1002 5 Banjir merendam TPS sejak pagi
    lapor#3201011002#tps 05#Surat suara kurang 20 lembar
"""

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Language = Literal["id", "en"]

_FORMAT = re.compile(
    r"""^\s*lapor[\s#:,;.]+
        (?P<code>\d[\d.]*)
        (?:[\s#:,;]+(?:tps[\s#:.]*)?(?P<tps>\d{1,4})(?=[\s#:,;.]|$))?
        [\s#:,;.]*
        (?P<text>.*?)\s*$""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)

# Namespace for the client_report_id of an SMS (uuid5 over the gateway's message).
SMS_NAMESPACE = uuid.UUID("0c8a4f4e-2a59-5d4e-8d3f-6b1f7d9e2a31")


class SmsProblem(StrEnum):
    """Why an SMS did not become a report; each has a reply telling how to fix it."""

    FORMAT = "format"
    REGION = "region"
    TPS = "tps"
    TEXT_SHORT = "text_short"
    TEXT_LONG = "text_long"
    TIME = "time"


_EXAMPLE = "LAPOR 32.01.01.1002 5 Banjir merendam TPS"

REPLIES: dict[Language, dict[str, str]] = {
    "id": {
        "accepted": "Terima kasih, laporan Anda diterima. Nomor laporan: {report_id}",
        SmsProblem.FORMAT: (
            "Format SMS tidak dikenali. Kirim: LAPOR <kode wilayah> <nomor TPS> <isi laporan>. "
            f"Contoh: {_EXAMPLE}"
        ),
        SmsProblem.REGION: (
            "Kode wilayah {code} tidak ditemukan. Gunakan kode Kemendagri, misalnya "
            f"32.01.01.1002 atau 3201011002. Contoh: {_EXAMPLE}"
        ),
        SmsProblem.TPS: "Nomor TPS {tps} tidak valid; gunakan angka 1 sampai 999. "
        f"Contoh: {_EXAMPLE}",
        SmsProblem.TEXT_SHORT: "Isi laporan terlalu pendek; jelaskan kejadiannya minimal "
        f"10 huruf. Contoh: {_EXAMPLE}",
        SmsProblem.TEXT_LONG: "Isi laporan terlalu panjang; kirim paling banyak 5000 huruf.",
        SmsProblem.TIME: "Waktu SMS tidak valid; silakan kirim ulang laporan Anda.",
    },
    "en": {
        "accepted": "Thank you, your report was received. Report number: {report_id}",
        SmsProblem.FORMAT: (
            "Message not understood. Send: LAPOR <region code> <TPS number> <report text>. "
            f"Example: {_EXAMPLE}"
        ),
        SmsProblem.REGION: (
            "Region code {code} not found. Use a Kemendagri code such as 32.01.01.1002 "
            f"or 3201011002. Example: {_EXAMPLE}"
        ),
        SmsProblem.TPS: "TPS number {tps} is not valid; use 1 to 999. Example: {example}",
        SmsProblem.TEXT_SHORT: "The report text is too short; describe what happened in at "
        f"least 10 characters. Example: {_EXAMPLE}",
        SmsProblem.TEXT_LONG: "The report text is too long; send at most 5000 characters.",
        SmsProblem.TIME: "The message time is not valid; please send your report again.",
    },
}


@dataclass(frozen=True)
class ParsedSms:
    """The parts of a well-formed SMS, not yet checked against the rules."""

    region_code: str
    tps: int | None
    text: str


def parse_sms(text: str) -> ParsedSms | None:
    """The parts of ``text``, or ``None`` when it does not follow the format at all."""
    match = _FORMAT.match(text)
    if match is None:
        return None
    tps = match.group("tps")
    return ParsedSms(
        region_code=match.group("code").strip("."),
        tps=int(tps) if tps is not None else None,
        text=match.group("text"),
    )


def reply_accepted(report_id: str, *, lang: Language = "id") -> str:
    """What the gateway texts back when the report was accepted."""
    return REPLIES[lang]["accepted"].format(report_id=report_id)


def reply_problem(
    problem: SmsProblem, *, parsed: ParsedSms | None = None, lang: Language = "id"
) -> str:
    """What the gateway texts back to explain how to fix the message."""
    return REPLIES[lang][problem].format(
        code=parsed.region_code if parsed else "",
        tps=parsed.tps if parsed else "",
        example=_EXAMPLE,
    )


def problem_for_field(field: str, error_type: str) -> SmsProblem:
    """Which reply explains a broken report rule (field path from validation)."""
    if field.startswith("region_code"):
        return SmsProblem.REGION
    if field.startswith("tps"):
        return SmsProblem.TPS
    if field.startswith("description"):
        return SmsProblem.TEXT_LONG if "long" in error_type else SmsProblem.TEXT_SHORT
    if field.startswith("occurred_at"):
        return SmsProblem.TIME
    return SmsProblem.FORMAT


def sms_client_report_id(*, sender: str, message_id: str | None, fallback: str) -> str:
    """A stable id for one SMS: the gateway's message id, else ``fallback`` (time + text)."""
    return str(uuid.uuid5(SMS_NAMESPACE, f"{sender}\x1f{message_id or fallback}"))
