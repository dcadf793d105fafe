"""The project's promises about itself: README commands, CI, cards."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The commands in the README's first code block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_two_commands_main_job_then_tests():
    first_lines = (ROOT / "README.md").read_text().splitlines()[:6]
    assert "```bash" in first_lines
    main_job, tests = readme_commands()
    assert "torch==2.13.0" in main_job and "regional-lstm" in main_job
    assert "torch==2.13.0" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()
    assert "ray stop" in ci


def test_every_dataset_card_names_its_ingest_command():
    cards = sorted((ROOT / "datasets").glob("*.md"))
    assert cards
    for card in cards:
        text = card.read_text()
        assert "regional-lstm " in text, card.name
        assert "units" in text.lower() or "unit" in text.lower(), card.name
