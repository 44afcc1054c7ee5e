"""Realistic report bodies for ``POST /v1/reports``: Indonesian texts across every
category, existing Kemendagri regions, unique ``client_report_id`` values.

Deterministic for a seed, so two runs send comparable loads and a failing body can be
regenerated.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from lokal import wilayah

WIB, WITA, WIT = (timezone(timedelta(hours=h)) for h in (7, 8, 9))
# Provinces on Central (WITA) and Eastern (WIT) Indonesian time; all others are on WIB.
WITA_PROVINCES = {"51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
WIT_PROVINCES = {"81", "82", "91", "92", "93", "94", "95", "96"}

# (category it reads as, template). Slots: tps, desa, kec, kab, jam, n, cm, uang, no.
TEMPLATES: tuple[tuple[str, str], ...] = (
    ("bencana_alam", "Banjir setinggi {cm} cm merendam TPS {tps} di {desa}. Kotak suara sudah "
     "dipindahkan ke balai desa, pemungutan suara tertunda sejak pukul {jam}."),
    ("bencana_alam", "Tanah longsor menutup jalan menuju TPS {tps} {desa}, {kec}. Logistik "
     "pemilu belum bisa dikirim dan petugas KPPS tertahan."),
    ("bencana_alam", "Angin kencang merobohkan tenda TPS {tps} di {desa}, sebagian surat "
     "suara basah. Warga diminta menunggu di masjid terdekat."),
    ("logistik", "Surat suara di TPS {tps} {desa} kurang {n} lembar dari jumlah DPT. KPPS "
     "masih menunggu kiriman tambahan dari PPS {kec}."),
    ("logistik", "Surat suara DPRD untuk dapil lain tertukar di TPS {tps} {desa}, pemilih "
     "diminta pulang dan kembali setelah pukul {jam}."),
    ("logistik", "Kotak suara tiba di gudang logistik {kec} dengan segel rusak dan gembok "
     "terbuka. Petugas PPK belum membuat berita acara."),
    ("dpt_pemilih", "Ada {n} nama pemilih yang sudah meninggal masih tercantum di DPT TPS "
     "{tps} {desa}, sementara beberapa warga baru tidak terdaftar."),
    ("dpt_pemilih", "Warga pindahan di {desa} tidak masuk DPT padahal sudah didatangi petugas "
     "coklit. Mereka ditolak memilih di TPS {tps}."),
    ("politik_uang", "Serangan fajar: tim sukses membagikan amplop berisi Rp{uang} kepada "
     "warga {desa} sekitar pukul {jam}, ada foto dan nama penerimanya."),
    ("politik_uang", "Ada pembagian sembako atas nama calon nomor urut {no} di dekat TPS "
     "{tps} {desa}. Warga diminta menunjukkan foto surat suara."),
    ("netralitas_asn", "Kepala Desa {desa} ikut berkampanye untuk pasangan calon nomor urut "
     "{no} dalam acara pengajian di balai desa."),
    ("netralitas_asn", "Seorang ASN dinas pendidikan {kab} mengajak guru memilih calon nomor "
     "urut {no} lewat grup WhatsApp sekolah."),
    ("pelanggaran_administratif", "Alat peraga kampanye masih terpasang di sekitar TPS {tps} "
     "{desa} pada masa tenang, Panwascam belum menertibkan."),
    ("tindak_pidana_pemilu", "Calon anggota legislatif berkampanye di dalam masjid {desa} "
     "setelah salat Jumat dan membagikan kalender bergambar dirinya."),
    ("pelanggaran_kode_etik", "Anggota KPPS TPS {tps} {desa} terlihat mengarahkan pemilih "
     "lansia agar mencoblos calon nomor urut {no}."),
    ("pemungutan_suara_ulang", "Ditemukan {n} pemilih mencoblos dua kali di TPS {tps} {desa} "
     "memakai undangan C6 milik orang lain. Saksi meminta pemungutan suara ulang."),
    ("keamanan", "Sekelompok orang mengintimidasi saksi di TPS {tps} {desa} dan memaksa "
     "penghitungan suara dihentikan sekitar pukul {jam}."),
    ("keamanan", "Terjadi keributan antarpendukung di depan kantor PPK {kec}, {n} orang luka "
     "ringan dan polisi sudah datang."),
    ("hoaks", "Beredar pesan berantai bahwa TPS {tps} {desa} dipindahkan ke kecamatan lain. "
     "Itu tidak benar, tetapi banyak warga yang bingung."),
    ("gangguan_teknis", "Sirekap gagal mengunggah foto formulir C.Hasil dari TPS {tps} {desa} "
     "sejak pukul {jam} karena sinyal internet putus."),
    ("gangguan_teknis", "Listrik padam di {desa} saat penghitungan suara TPS {tps}, KPPS "
     "melanjutkan dengan lampu senter dan genset pinjaman."),
    ("not_an_incident", "Pemungutan suara di TPS {tps} {desa} berjalan lancar dan tertib, "
     "partisipasi warga tinggi sejak pukul {jam}."),
    ("not_an_incident", "Mohon info, kapan batas waktu mengurus pindah memilih untuk "
     "mahasiswa yang kuliah di {kab}?"),
)  # fmt: skip

DETAILS = (
    "",
    " Mohon segera ditindaklanjuti.",
    " Saya melihat sendiri kejadiannya.",
    " Sudah dilaporkan ke PPS tetapi belum ada tanggapan.",
    " Warga sekitar juga membenarkan.",
    " Foto menyusul karena sinyal lemah.",
)
FIRST_NAMES = ("Siti", "Agus", "Dewi", "Budi", "Rina", "Made", "Yohanes", "Nur", "Fajar", "Ika")
LAST_NAMES = ("Rahmawati", "Santoso", "Lestari", "Wijaya", "Siregar", "Wayan", "Hutapea", "Saputra")


@dataclass(frozen=True)
class Place:
    """An existing region to report from, with the names a text would mention."""

    code: str  # dotted Kemendagri code sent as region_code
    village: str
    district: str
    regency: str
    province: str  # two-digit province code, for the time zone


@lru_cache(maxsize=8)
def places(*, seed: int, count: int = 400) -> tuple[Place, ...]:
    """``count`` villages spread over every province, picked from the bundled Kemendagri list."""
    rng = random.Random(seed)
    provinces = wilayah.list_wilayah()
    out: list[Place] = []
    while len(out) < count:
        province = provinces[len(out) % len(provinces)]
        regency = rng.choice(wilayah.list_wilayah(province.code))
        districts = wilayah.list_wilayah(regency.code)
        if not districts:
            continue
        district = rng.choice(districts)
        villages = wilayah.list_wilayah(district.code)
        if not villages:
            continue
        village = rng.choice(villages)
        out.append(
            Place(
                code=village.code,
                village=village.name,
                district=district.name,
                regency=regency.name,
                province=province.code,
            )
        )
    return tuple(out)


def timezone_of(province: str) -> timezone:
    """Local time zone of a province (reports carry the reporter's local offset)."""
    if province in WIT_PROVINCES:
        return WIT
    if province in WITA_PROVINCES:
        return WITA
    return WIB


class ReportFactory:
    """Makes report bodies; ``client_report_id`` is unique per factory seed and index."""

    def __init__(self, *, seed: int, now: datetime | None = None) -> None:
        self._rng = random.Random(seed)
        self._places = places(seed=seed % 1000)
        self._now = now

    def make(self) -> dict[str, Any]:
        """One report body as the monitor app sends it."""
        rng = self._rng
        place = rng.choice(self._places)
        _, template = rng.choice(TEMPLATES)
        tps = rng.randint(1, 40)
        local = timezone_of(place.province)
        now = self._now or datetime.now(UTC)
        occurred = (now - timedelta(minutes=rng.uniform(1, 180))).astimezone(local)
        text = template.format(
            tps=f"{tps:02d}",
            desa=place.village,
            kec=f"Kecamatan {place.district}",
            kab=place.regency,
            jam=f"{occurred.hour:02d}.{rng.choice((0, 15, 30, 45)):02d}",
            n=rng.randint(2, 60),
            cm=rng.choice((30, 50, 80, 100, 150)),
            uang=f"{rng.choice((50, 100, 150, 200, 300)) * 1000:,}".replace(",", "."),
            no=rng.randint(1, 4),
        ) + rng.choice(DETAILS)
        # Most reports name the village; some only the district or regency.
        parts = place.code.split(".")
        depth = rng.choices((4, 3, 2), weights=(75, 15, 10))[0]
        body: dict[str, Any] = {
            "client_report_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": occurred.isoformat(timespec="seconds"),
            "region_code": ".".join(parts[:depth]),
            "description": text,
            "anonymous": True,
        }
        if depth == 4:
            body["tps"] = tps
        if rng.random() < 0.3:
            # Identified reporters: intake encrypts these, which is part of its cost.
            body["anonymous"] = False
            body["reporter"] = {
                "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "phone": f"+62812{rng.randrange(10**7, 10**8)}",
            }
        return body

    def batch(self, count: int) -> list[dict[str, Any]]:
        """``count`` bodies in order."""
        return [self.make() for _ in range(count)]
