"""What the store infers from the server's `buildInfo`."""

import pytest

from pantau.reporting.adapters.store import id_in_pushed_down


@pytest.mark.parametrize(
    ("version", "indexed"),
    [
        ("v1.24.2", False),  # upstream FerretDB: `$in` scans the collection
        ("v1.24.2-pantau.1", False),  # the launcher's build before the `$in` patch
        ("v1.24.2-pantau.2", True),
        ("v1.24.2-pantau.11", True),
        ("v1.24.2-pantau.x", False),
        ("v2.0.0-rc1", False),
    ],
)
def test_only_the_patched_ferretdb_answers_id_in_from_its_index(
    version: str, indexed: bool
) -> None:
    assert id_in_pushed_down(version) is indexed
