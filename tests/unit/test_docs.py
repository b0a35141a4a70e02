"""README.md and docs/: every relative link resolves (file and anchor), the README stays a short product page,
and the documentation site's navigation lists every page (the site's build with warnings as errors, a
subprocess running mkdocs, is ``tests/integration/test_docs_site.py``)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)


def slug(heading: str) -> str:
    """The anchor of a heading as mkdocs (Python-Markdown's toc) and GitHub both make it for plain headings."""
    text = re.sub(r"[`*_]", lambda m: "_" if m.group() == "_" else "", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(h) for h in _HEADING.findall(text)}


def links(page: Path) -> list[str]:
    text = _CODE_SPAN.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    return _LINK.findall(text)


def broken_links(pages: list[Path]) -> list[str]:
    """Each relative link of ``pages`` whose file or anchor does not exist, as ``page: target (why)``."""
    out = []
    for page in pages:
        for target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not checked here
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                out.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                out.append(f"{page.name}: {target} (no heading with anchor #{anchor})")
    return out


def test_every_relative_link_resolves() -> None:
    assert broken_links(PAGES) == []


def test_the_link_check_finds_missing_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# B\n\n## The default follows the router\n", encoding="utf-8")
    a = tmp_path / "a.md"
    a.write_text("[ok](b.md#the-default-follows-the-router) [self](#a) [web](https://x.org/y)\n"
                 "`[code](nope.md)`\n```\n[fenced](nope.md)\n```\n# A\n"
                 "[gone](c.md) [bad](b.md#nope) ![img](pic.png)\n", encoding="utf-8")
    assert broken_links([a]) == ["a.md: c.md (no such file)", "a.md: b.md#nope (no heading with anchor #nope)",
                                 "a.md: pic.png (no such file)"]


@pytest.mark.parametrize(("heading", "anchor"), [
    ("The demo's totals", "the-demos-totals"),
    ("Verification samples in one request (`verify_n`)", "verification-samples-in-one-request-verify_n"),
    ("The shipped local pair (PubMedQA, Qwen 0.5B → 1.5B)", "the-shipped-local-pair-pubmedqa-qwen-05b-15b"),
])
def test_anchors_are_made_as_mkdocs_makes_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_readme_is_a_short_product_page_that_starts_with_its_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    first = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first.splitlines()] == [["make", "demo"], ["make", "test"]]


def test_every_docs_page_is_in_the_sites_navigation() -> None:
    yaml = pytest.importorskip("yaml")
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]

    def files(entries: object) -> set[str]:
        if isinstance(entries, str):
            return {entries}
        if isinstance(entries, list):
            return set().union(*(files(e) for e in entries))
        if isinstance(entries, dict):
            return set().union(*(files(v) for v in entries.values()))
        return set()

    assert files(nav) == {p.name for p in (ROOT / "docs").glob("*.md")}

