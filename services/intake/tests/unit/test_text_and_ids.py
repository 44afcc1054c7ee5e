"""Text hygiene and deterministic report ids."""

import os
import unicodedata
from uuid import RFC_4122, UUID, uuid4, uuid5

from hypothesis import given
from hypothesis import strategies as st

from pantau.intake.core.ids import REPORT_ID_NAMESPACE, RandomUuids, report_id_for
from pantau.intake.core.text import _clean_any, clean_text


class TestCleanText:
    def test_nfc_normalises_decomposed_letters(self) -> None:
        decomposed = unicodedata.normalize("NFD", "Désa Ciléungsi")
        assert clean_text(decomposed) == unicodedata.normalize("NFC", "Désa Ciléungsi")

    def test_strips_control_characters_but_keeps_newlines_in_multiline(self) -> None:
        assert clean_text("  Banjir\x00 di\x1b TPS\r\nbaris dua\t ok  ") == (
            "Banjir di TPS\nbaris dua\t ok"
        )

    def test_single_line_collapses_whitespace(self) -> None:
        assert clean_text(" Siti \n  Rahma\x07wati ", multiline=False) == "Siti Rahmawati"
        assert clean_text("  Siti   Rahmawati ", multiline=False) == "Siti Rahmawati"
        assert clean_text("  Siti   Rahmawati ") == "Siti   Rahmawati"

    @given(st.text(alphabet=st.characters(max_codepoint=0x7F)), st.booleans())
    def test_the_ascii_fast_path_agrees_with_the_general_one(
        self, text: str, multiline: bool
    ) -> None:
        assert clean_text(text, multiline=multiline) == _clean_any(text, multiline=multiline)


class TestReportId:
    def test_same_client_and_client_report_id_give_same_id(self) -> None:
        crid = str(uuid4())
        first = report_id_for(client_id="app-1", client_report_id=crid)
        assert first == report_id_for(client_id="app-1", client_report_id=crid.upper())
        assert first.startswith("rpt_") and len(first) == 36

    def test_other_client_gives_other_id(self) -> None:
        crid = str(uuid4())
        assert report_id_for(client_id="app-1", client_report_id=crid) != report_id_for(
            client_id="app-2", client_report_id=crid
        )

    @given(client_id=st.text(), client_report_id=st.text())
    def test_is_the_uuid5_of_client_and_id_as_before(
        self, client_id: str, client_report_id: str
    ) -> None:
        # Ids already issued must not change: the same value uuid.uuid5 always gave.
        name = f"{client_id}\x1f{client_report_id.lower()}"
        expected = f"rpt_{uuid5(REPORT_ID_NAMESPACE, name).hex}"
        assert report_id_for(client_id=client_id, client_report_id=client_report_id) == expected


class TestRandomUuids:
    def test_version_4_uuids_in_canonical_text_all_different(self) -> None:
        new = RandomUuids(batch=8)  # several refills
        drawn = [new() for _ in range(1000)]
        assert len(set(drawn)) == len(drawn)
        for text in drawn:
            parsed = UUID(text)
            assert (parsed.version, parsed.variant, str(parsed)) == (4, RFC_4122, text)

    def test_a_forked_child_does_not_repeat_the_parent(self) -> None:
        new = RandomUuids()
        new()  # the pool is filled
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: send its next id, leave at once
            os.write(write, new().encode())
            os._exit(0)
        os.close(write)
        child = os.read(read, 64).decode()
        os.waitpid(pid, 0)
        os.close(read)
        assert child != new()
