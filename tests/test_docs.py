"""The documentation: the README's links lead somewhere, and docs/ builds as a site with
`mkdocs build --strict`, where a broken link or anchor is an error (mkdocs.yml)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# [text](target): the target up to a space or the closing parenthesis; images too.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _slug(heading: str) -> str:
    """A heading's anchor as mkdocs (Python-Markdown's toc) writes it; GitHub agrees for ours."""
    text = re.sub(r"[`*_]", "", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in HEADING.findall(FENCE.sub("", path.read_text("utf-8")))}


def _links(path: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", path.read_text("utf-8")))


def test_every_relative_link_in_the_readme_resolves_to_a_file_and_its_anchor():
    readme = ROOT / "README.md"
    broken = []
    for target in _links(readme):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        file_part, _, anchor = target.partition("#")
        path = (readme.parent / file_part).resolve() if file_part else readme
        if not path.is_file():
            broken.append(f"{target}: no file {path.relative_to(ROOT)}")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading with the anchor #{anchor}")
    assert not broken, "README.md has broken links:\n" + "\n".join(broken)


def test_the_readme_links_every_docs_page():
    linked = {t.partition("#")[0] for t in _links(ROOT / "README.md")}
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages and pages <= linked, sorted(pages - linked)


def test_no_page_cites_a_file_users_do_not_have():
    # The product contract lives outside this repository: the docs say its content instead.
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text("utf-8")
        for phrase in ("contract section", "shared/spec", "the contract is silent", "design card"):
            assert phrase not in text, f"{path.relative_to(ROOT)} cites {phrase!r}"


@pytest.mark.integration  # runs mkdocs in a process of its own
def test_the_docs_build_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        message = "mkdocs is not installed (the dev extra brings it: make install)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the docs must build, not skip)")
        pytest.skip(message)
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").is_file()
    for page in ("computation", "your-data", "engines", "security", "operations", "development"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
