"""Paraphrases of each phenomenon the rules handle, none of them in the labelled sets:
the rules must generalise from the phenomenon, not from the dev set's wording."""

import pytest

from pantau.classifier.core import ReportInput, Ruleset, classify

C, H, M, L = "critical", "high", "medium", "low"

PARAPHRASES = [
    # disaster: informal, news, English; severity from disruption and scale
    ("tps kebanjiran pak, air sepaha, blm bisa nyoblos", "bencana_alam", H),
    ("Genangan air merendam lokasi TPS 4, pemungutan suara molor dua jam", "bencana_alam", H),
    ("BPBD mencatat 75 TPS terdampak banjir, pencoblosan ditunda", "bencana_alam", C),
    (
        "Landslide blocked the road to the village, polling station 3 could not open",
        "bencana_alam",
        H,
    ),
    (
        "Hujan lebat sejak pagi, atap tenda TPS 9 bocor tapi pemungutan suara tetap berjalan",
        "bencana_alam",
        M,
    ),
    # logistics
    ("kertas suara buat DPRD kurang bgt di tps kami, banyak yg nunggu", "logistik", M),
    ("Kotak suara TPS 2 ditemukan dalam kondisi segel terbuka", "logistik", M),
    ("surat suara pilbup ketuker sama dapil sebelah", "logistik", M),
    # voter list
    ("almarhumah nenek saya masih terdaftar di DPT", "dpt_pemilih", M),
    ("Banyak warga pendatang belum masuk DPT padahal sudah punya KTP sini", "dpt_pemilih", M),
    # vote buying, with and without evidence; denial
    ("td malem dibagiin amplop isi 50rb sama timses, disuruh milih no 3", "politik_uang", M),
    (
        "Tim sukses ketangkap tangan bagi-bagi uang ke warga, barang bukti disita polisi",
        "politik_uang",
        H,
    ),
    (
        "Ada bagi-bagi sembako atas nama caleg nomor 7 di masjid setelah pengajian",
        "politik_uang",
        M,
    ),
    (
        "Bawaslu memastikan tidak ada politik uang di desa kami, situasi kondusif",
        "not_an_incident",
        L,
    ),
    # neutrality
    ("Pak lurah ikut jadi jurkam salah satu paslon bupati", "netralitas_asn", M),
    ("oknum PNS dinas kesehatan posting dukungan ke capres di status WA", "netralitas_asn", M),
    # administrative
    ("Spanduk caleg dipaku di pohon-pohon sepanjang jalan desa", "pelanggaran_administratif", L),
    ("Masih ada tim kampanye bagi brosur caleg di masa tenang", "pelanggaran_administratif", M),
    # crimes
    ("Calon bupati kampanye di masjid waktu khotbah Jumat", "tindak_pidana_pemilu", M),
    (
        "Ada dugaan penggelembungan suara di rekap PPK, angkanya beda dengan C hasil",
        "tindak_pidana_pemilu",
        H,
    ),
    # ethics
    ("Anggota KPPS ketahuan main judi online waktu bertugas", "pelanggaran_kode_etik", M),
    ("Ketua PPS kader partai dan pakai kaos partai waktu pleno", "pelanggaran_kode_etik", M),
    # re-vote
    ("ada yg nyoblos 2x di TPS 5, pake undangan orang lain", "pemungutan_suara_ulang", H),
    (
        "Bawaslu rekomendasikan PSU di TPS 12 karena KPPS mencoblos sisa surat suara",
        "pemungutan_suara_ulang",
        H,
    ),
    # security
    ("saksi kami diancam dan diusir dari TPS sama preman", "keamanan", H),
    ("Kantor PPK dibakar orang tidak dikenal dini hari", "keamanan", C),
    ("Bentrok antar pendukung caleg di TPS 8, tiga orang luka-luka", "keamanan", H),
    ("Pendukung paslon mengeroyok warga sampai tewas usai penghitungan suara", "keamanan", C),
    # hoax: claim is not the incident; unrest raises severity
    ("Hoaks! Video kotak suara dibakar itu kejadian 2019, bukan hari ini", "hoaks", M),
    (
        "Beredar pesan WA provokatif soal kecurangan, warga mulai berkumpul di kantor KPU",
        "hoaks",
        H,
    ),
    ("It's fake news that voting has been postponed, KPU confirms schedule", "hoaks", M),
    # technical
    ("sirekap ngadat, foto C1 ga ke-upload dr tadi", "gangguan_teknis", M),
    (
        "Listrik padam saat penghitungan, penghitungan suara dihentikan sementara",
        "gangguan_teknis",
        H,
    ),
    ("Sempat mati lampu 10 menit di TPS 6 tapi sudah normal kembali", "gangguan_teknis", L),
    # not an incident
    ("Selamat pagi, apakah TPS buka jam 7?", "not_an_incident", L),
    ("Pemungutan suara di TPS kami aman terkendali dan tertib", "not_an_incident", L),
    (
        "Rapat pleno rekapitulasi tingkat kecamatan dijadwalkan besok pukul 09.00",
        "not_an_incident",
        L,
    ),
    # negation traps: the negator must not swallow the incident
    ("Warga tidak bisa memilih karena nama tidak ada di DPT", "dpt_pemilih", H),
    ("Bukan cuma amplop, timses juga bagi beras ke pemilih biar coblos nomor 1", "politik_uang", M),
    ("Kotak suara belum datang sampai jam 9, pencoblosan belum dimulai", "logistik", H),
    ("Tidak ada kendala berarti, hanya antrean panjang di TPS 3", "not_an_incident", L),
    ("Polisi membantah ada korban jiwa dalam keributan di TPS 7", "keamanan", H),
    # mixed language and typos
    ("Ada money politic di RT 04, each voter dapat 100k", "politik_uang", M),
    ("KPPS nya gak netral, dia ngarahin pemilih buat coblos paslon 2", "pelanggaran_kode_etik", M),
    ("kepala desa kmpanye terang2an utk caleg anaknya", "netralitas_asn", M),
    ("Sirekap eror lg, angka suara paslon 1 kebaca 900 pdhl cuma 90", "gangguan_teknis", M),
    # scale and casualties
    ("Gempa merusak puluhan TPS di 4 kecamatan, pemungutan suara dibatalkan", "bencana_alam", C),
    ("Petugas KPPS meninggal dunia setelah dianiaya massa", "keamanan", C),
    (
        "Seluruh TPS di Kecamatan Sumur tidak bisa menggelar pemungutan suara karena rob",
        "bencana_alam",
        C,
    ),
    # evidence
    ("Panwascam amankan timses caleg beserta 200 amplop berisi uang", "politik_uang", H),
    ("ASN kepergok kampanye di jam kerja, ada rekaman videonya", "netralitas_asn", M),
]


@pytest.mark.parametrize(("text", "category", "severity"), PARAPHRASES)
def test_paraphrase(rules: Ruleset, text: str, category: str, severity: str) -> None:
    result = classify(ReportInput(text=text), rules)
    assert (result.category.value, result.severity.value) == (category, severity), (
        result.explanation
    )
