"""Every relative link in README.md and docs/ points to a file that exists, and README stays short."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target)
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # not inside code blocks
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_to_existing_files(page: Path) -> None:
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve()
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading '#{anchor}' in {dest.name}")
    assert broken == [], f"{page.relative_to(REPO)}: broken links {broken}"


def test_readme_is_a_front_door() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 150


def test_every_results_page_is_dated_and_indexed() -> None:
    results = REPO / "docs" / "results"
    index = (results / "README.md").read_text()
    for page in results.glob("*.md"):
        if page.name == "README.md":
            continue
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.md", page.name), page.name
        assert f"]({page.name})" in index, f"{page.name} is not in docs/results/README.md"


def test_readme_sweep_file_is_a_valid_sweep() -> None:
    """The README's minimal sweep file is what a newcomer copies: it must parse as it stands."""
    import re

    import yaml

    from hpo_tasks.config import parse_sweep

    text = (REPO / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    cfg = parse_sweep(yaml.safe_load(block.group(1)), source="README.md")
    assert cfg.objective.command and cfg.schedule == "0 2 * * *"
