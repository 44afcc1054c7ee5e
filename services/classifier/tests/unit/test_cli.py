"""``pantau classify``: JSON lines in, JSON lines out, the same core as the service."""

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from pantau.classifier.cli import register
from pantau.classifier.core import ReportInput, Ruleset, classify
from pantau.classifier.core.rules import DEFAULT_RULES_PATH


def app() -> typer.Typer:
    root = typer.Typer()
    register(root)

    @root.command()
    def version() -> None:  # a second command keeps typer in multi-command mode
        """Unused."""

    return root


def test_classify_json_lines(rules: Ruleset) -> None:
    lines = [
        {"id": "r1", "text": "Banjir merendam TPS 5, pemungutan suara ditunda"},
        {"id": "r2", "text": "Ada serangan fajar di desa kami"},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n"
    result = CliRunner().invoke(app(), ["classify"], input=stdin)
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["r1", "r2"]
    for line, got in zip(lines, out, strict=True):
        expected = classify(ReportInput(text=line["text"]), rules)
        assert got["category"] == expected.category.value
        assert got["severity"] == expected.severity.value
        assert got["explanation"] == expected.explanation
        assert got["rules_version"] == rules.version


def test_bad_lines_are_reported_in_place() -> None:
    stdin = 'not json\n{"id": "x"}\n{"id": "ok", "text": "aman"}\n'
    result = CliRunner().invoke(app(), ["classify"], input=stdin)
    assert result.exit_code == 1
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert "error" in out[0] and out[1] == {"id": "x", "error": "`text` must be a string"}
    assert out[2]["category"] == "not_an_incident"


def test_bad_rules_file_fails_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(DEFAULT_RULES_PATH.read_text().replace("weight: 3\n", "weight: x\n", 1))
    result = CliRunner().invoke(app(), ["classify", "--rules", str(bad)], input="")
    assert result.exit_code == 2
    assert f"{bad}:" in result.stderr and "weight" in result.stderr
