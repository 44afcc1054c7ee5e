"""The pure core: categories, severity, negation, denials, explanation, determinism."""

import pytest

from pantau.classifier.core import ReportInput, Ruleset, classify
from pantau.shared.events import Category, Severity


def run(rules: Ruleset, text: str, **kw: str):
    return classify(ReportInput(text=text, **kw), rules)


class TestCategories:
    @pytest.mark.parametrize(
        ("text", "category"),
        [
            ("Banjir setinggi 1 meter merendam TPS 05.", Category.BENCANA_ALAM),
            ("Surat suara di TPS 7 kurang 50 lembar", Category.LOGISTIK),
            ("Nama ibu saya yg sdh meninggal msh ada di DPT", Category.DPT_PEMILIH),
            (
                "Ada serangan fajar, amplop 50rb per org dibagi timses paslon 2",
                Category.POLITIK_UANG,
            ),
            ("Kades ikut kampanye paslon 01 dan mengajak warga memilih", Category.NETRALITAS_ASN),
            ("Baliho caleg dipasang di pohon pinggir jalan", Category.PELANGGARAN_ADMINISTRATIF),
            ("Caleg berkampanye di dalam masjid saat salat Jumat", Category.TINDAK_PIDANA_PEMILU),
            ("Ketua KPPS mabuk saat bertugas di TPS", Category.PELANGGARAN_KODE_ETIK),
            ("Pemilih mencoblos dua kali di TPS 3", Category.PEMUNGUTAN_SUARA_ULANG),
            ("Saksi paslon diintimidasi sekelompok orang di TPS", Category.KEAMANAN),
            ("Beredar hoaks video kotak suara dibakar", Category.HOAKS),
            ("Sirekap error, tidak bisa upload foto C1", Category.GANGGUAN_TEKNIS),
            ("Kapan jadwal pencoblosan pilkada?", Category.NOT_AN_INCIDENT),
            ("Flood at polling station 12, voting postponed", Category.BENCANA_ALAM),
        ],
    )
    def test_primary_category(self, rules: Ruleset, text: str, category: Category) -> None:
        assert run(rules, text).category == category

    def test_institutions_follow_the_taxonomy(self, rules: Ruleset) -> None:
        assert run(rules, "Banjir merendam TPS 4").institutions[:2] == ("KPU", "BPBD")
        assert run(rules, "Kapan jadwal pencoblosan?").institutions == ()


class TestNormalisation:
    def test_stretched_letters_case_and_slang(self, rules: Ruleset) -> None:
        assert run(rules, "BANJIIIRRR di tps 5 gaes").category == Category.BENCANA_ALAM
        assert run(rules, "ada yg bagi2 duit ke warga biar nyoblos paslon 3").category == (
            Category.POLITIK_UANG
        )

    def test_unicode_forms_are_equivalent(self, rules: Ruleset) -> None:
        plain = run(rules, "Banjir merendam TPS 5")
        fancy = run(rules, "Ｂａｎｊｉｒ merendam TPS 5")  # full-width letters
        assert (fancy.category, fancy.severity) == (plain.category, plain.severity)


class TestNegationAndDenial:
    def test_negated_term_does_not_count(self, rules: Ruleset) -> None:
        result = run(rules, "Tidak ditemukan politik uang di Kecamatan Cibinong, situasi aman")
        assert result.category == Category.NOT_AN_INCIDENT
        assert "politik uang" in result.explanation

    def test_negation_scope_stops_at_because(self, rules: Ruleset) -> None:
        result = run(rules, "Warga tidak bisa mencoblos karena banjir merendam TPS")
        assert result.category == Category.BENCANA_ALAM
        assert result.severity == Severity.HIGH

    def test_hoax_claim_is_not_the_incident_it_describes(self, rules: Ruleset) -> None:
        result = run(rules, "Beredar hoaks soal kotak suara dibakar di Sampang")
        assert result.category == Category.HOAKS
        assert result.severity != Severity.CRITICAL  # no real arson


class TestSeverity:
    @pytest.mark.parametrize(
        ("text", "severity"),
        [
            ("Kericuhan di TPS 3, dua orang tewas dibacok", Severity.CRITICAL),
            (
                "Banjir merendam 120 TPS di Dayeuhkolot, pemungutan suara ditunda",
                Severity.CRITICAL,
            ),
            ("Banjir merendam TPS 5, pemungutan suara ditunda", Severity.HIGH),
            ("Timses caleg tertangkap tangan bagi-bagi uang", Severity.HIGH),
            ("Banjir setinggi 20 cm di halaman TPS 2, sudah surut", Severity.LOW),
            ("Baliho caleg dipasang di pohon", Severity.LOW),
            ("Kapan jadwal pencoblosan?", Severity.LOW),
        ],
    )
    def test_severity_from_signals(self, rules: Ruleset, text: str, severity: Severity) -> None:
        assert run(rules, text).severity == severity


class TestExplanationAndDeterminism:
    def test_explanation_names_the_words_that_fired(self, rules: Ruleset) -> None:
        result = run(rules, "Banjir merendam 120 TPS, pemungutan suara ditunda")
        assert "“banjir”" in result.explanation
        assert "120 tps" in result.explanation
        assert result.explanation.startswith("Kategori Bencana alam")
        assert result.explanation_en.startswith("Category Natural disaster")

    def test_same_input_same_output(self, rules: Ruleset) -> None:
        text = "Kades mengarahkan warga memilih paslon 2 sambil membagikan sembako"
        assert run(rules, text) == run(rules, text)

    def test_rules_version_is_stamped(self, rules: Ruleset) -> None:
        assert run(rules, "apa saja").rules_version == rules.version

    def test_confidence_is_a_probability(self, rules: Ruleset) -> None:
        for text in ("", "Banjir", "Banjir dan serangan fajar dan hoaks"):
            assert 0.0 <= run(rules, text).confidence <= 1.0
