"""The docs cannot silently break: every relative link in README.md, CONTRIBUTING.md and docs/*.md
points to a file that exists (and, for a page, to a heading it has), docs pages link only inside
docs/ (what mkdocs can resolve), and every page is in mkdocs.yml's nav. In-process, no mkdocs run."""

import re
import unicodedata
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *DOCS.glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.M | re.S)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)


def _slug(heading: str) -> str:
    """A heading's anchor as mkdocs (Python-Markdown's toc) and GitHub make it, for plain headings."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"[`*]", "", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set:
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", page.read_text(), flags=re.M | re.S)
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M)}


def _links(page: Path):
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):  # http:, https:, mailto:
            continue
        yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file_and_heading(page):
    assert page.is_file(), page
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
        elif page.parent == DOCS and not dest.is_relative_to(DOCS):
            broken.append(f"{target}: outside docs/, which the site cannot link to")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_checks_find_links_and_headings():
    """The link pattern and the slugs are what the pages rely on: a check that matched nothing would pass."""
    assert list(_links(ROOT / "README.md")), "README.md: no relative link found"
    assert _slug("The `cifar_resnet` preset") == "the-cifar_resnet-preset"
    assert _slug("What it changes: seconds") == "what-it-changes-seconds"
    assert _slug("Results on disk (the contract)") == "results-on-disk-the-contract"
    assert list(LINK.findall("see [a](b.md#c) and ![d](e.png), not `[f](g.md)`"))
    assert LINK.findall(_prose("see `[f](g.md)`\n```\n[h](i.md)\n```\n")) == []


def test_every_page_is_in_the_site_nav():
    def files(nav):
        for entry in nav:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from files(value) if isinstance(value, list) else [value]

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "docs" and config["strict"] is True
    nav = set(files(config["nav"]))
    missing = [p.name for p in DOCS.glob("*.md") if p.name not in nav]
    assert not missing, f"docs pages missing from mkdocs.yml's nav: {missing}"
