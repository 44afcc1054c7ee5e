"""Words for codes: categories, severities, time zones, in Indonesian and English."""

from datetime import datetime, timedelta, timezone

from pantau.notifier.core.models import Language
from pantau.shared.events import AlertKind, Category, Severity

CATEGORY_WORDS: dict[Language, dict[Category, str]] = {
    Language.ID: {
        Category.BENCANA_ALAM: "Bencana alam",
        Category.LOGISTIK: "Logistik pemilu",
        Category.DPT_PEMILIH: "Daftar pemilih (DPT)",
        Category.POLITIK_UANG: "Politik uang",
        Category.NETRALITAS_ASN: "Netralitas ASN/aparat",
        Category.PELANGGARAN_ADMINISTRATIF: "Pelanggaran administratif",
        Category.TINDAK_PIDANA_PEMILU: "Tindak pidana pemilu",
        Category.PELANGGARAN_KODE_ETIK: "Pelanggaran kode etik penyelenggara",
        Category.PEMUNGUTAN_SUARA_ULANG: "Pemungutan suara ulang",
        Category.KEAMANAN: "Keamanan",
        Category.HOAKS: "Hoaks pemilu",
        Category.GANGGUAN_TEKNIS: "Gangguan teknis",
        Category.NOT_AN_INCIDENT: "Bukan insiden",
    },
    Language.EN: {
        Category.BENCANA_ALAM: "Natural disaster",
        Category.LOGISTIK: "Election logistics",
        Category.DPT_PEMILIH: "Voter list",
        Category.POLITIK_UANG: "Vote buying",
        Category.NETRALITAS_ASN: "Civil-servant neutrality",
        Category.PELANGGARAN_ADMINISTRATIF: "Administrative violation",
        Category.TINDAK_PIDANA_PEMILU: "Election crime",
        Category.PELANGGARAN_KODE_ETIK: "Election officials' misconduct",
        Category.PEMUNGUTAN_SUARA_ULANG: "Re-vote needed",
        Category.KEAMANAN: "Security",
        Category.HOAKS: "Election hoax",
        Category.GANGGUAN_TEKNIS: "Technical failure",
        Category.NOT_AN_INCIDENT: "Not an incident",
    },
}

SEVERITY_WORDS: dict[Language, dict[Severity, str]] = {
    Language.ID: {
        Severity.CRITICAL: "KRITIS",
        Severity.HIGH: "TINGGI",
        Severity.MEDIUM: "SEDANG",
        Severity.LOW: "RENDAH",
    },
    Language.EN: {
        Severity.CRITICAL: "CRITICAL",
        Severity.HIGH: "HIGH",
        Severity.MEDIUM: "MEDIUM",
        Severity.LOW: "LOW",
    },
}

KIND_WORDS: dict[Language, dict[AlertKind, str]] = {
    Language.ID: {
        AlertKind.INITIAL: "Peringatan",
        AlertKind.UPDATE: "Pembaruan",
        AlertKind.ESCALATION: "ESKALASI",
    },
    Language.EN: {
        AlertKind.INITIAL: "Alert",
        AlertKind.UPDATE: "Update",
        AlertKind.ESCALATION: "ESCALATION",
    },
}

WIB = timezone(timedelta(hours=7), "WIB")
WITA = timezone(timedelta(hours=8), "WITA")
WIT = timezone(timedelta(hours=9), "WIT")

# Indonesia keeps no daylight saving, so a fixed offset per province is exact.
# Kalimantan Barat (61) and Tengah (62) are WIB; the rest of Kalimantan, Bali, Nusa
# Tenggara and Sulawesi are WITA; Maluku and Papua are WIT.
_WITA_PROVINCES = {"51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
_WIT_PROVINCES = {"81", "82", "91", "92", "93", "94", "95", "96", "97"}


def region_zone(region_code: str) -> timezone:
    """The time zone of a region: WIB, WITA or WIT, by its province."""
    province = region_code[:2]
    if province in _WIT_PROVINCES:
        return WIT
    if province in _WITA_PROVINCES:
        return WITA
    return WIB


def local_time(moment: datetime, region_code: str) -> str:
    """``28-11-2026 14:05 WIB``: the moment in the region's own zone."""
    zone = region_zone(region_code)
    return f"{moment.astimezone(zone):%d-%m-%Y %H:%M} {zone.tzname(None)}"
