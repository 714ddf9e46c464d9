"""Every citation in the repository can be followed to an entry of docs/sources.md.

docs/sources.md holds the sources the project cites, each under an ``<a id="..."></a>`` anchor:
``s1``..``s71`` (public sources), ``research-X-Y`` (topics of the research notes, which live outside
the repository) and ``design-*`` (the design notes). The rating tables of a released version are
hashed, so their data files keep the short citations they were released with (``research.md
§2.1; §5 #1 [J]``); those resolve by a mechanical rule that these tests apply. Everything else links
into docs/sources.md and no longer names the research notes or the design document as a file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"
TABLE_VERSIONS = sorted(path for path in (ROOT / "rating_tables").iterdir() if path.is_dir())
TABLE_VERSIONS = [path for path in TABLE_VERSIONS if (path / "manifest.toml").is_file()]
NEWEST_TABLES_README = ROOT / "rating_tables" / "2026.3" / "README.md"

_ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
# A link into the sources file: any path ending in sources.md, then #anchor.
_SOURCES_LINK = re.compile(r"([\w./-]*sources[.]md)#([A-Za-z0-9_-]+)")
# A Markdown link target, for the relative path of a link written in a Markdown file.
_MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]*)#([A-Za-z0-9_-]+)\)")
# One citation of the research notes: §X, §X.Y or §5 #N, and further rows ", #M" after it.
_SECTION = re.compile(r"§\s?(\d+)(?:\.(\d+))?((?:\s?#\s?\d+)(?:,\s?#\s?\d+)*)?")
_ROW = re.compile(r"#\s?(\d+)")
# The names of the documents outside the repository, cited as files.
_OLD_FILE = re.compile(r"\bresearch[.]md\b|\bDESIGN[.]md\b|\bSTYLE[.]md\b|shared/domain")
# A quote, in code, of a released table's citation: `research.md §5 #1 [J]`.
_QUOTED_TABLE_CITATION = re.compile(r"research[.]md §")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _anchors() -> set[str]:
    return set(_ANCHOR.findall(_text(SOURCES)))


def _source_keys() -> dict[str, str]:
    """The key table at the top of docs/sources.md: key -> anchor of its entry."""
    text = _text(SOURCES)
    table = text[text.index("## Source keys") : text.index("\n---\n")]
    keys: dict[str, str] = {}
    for row in re.findall(r"^\|(.*)\|$", table, flags=re.MULTILINE):
        cells = [cell.strip() for cell in row.split("|")]
        for key, entry in zip(cells[0::2], cells[1::2], strict=False):
            link = re.fullmatch(r"\[[^\]]+\]\(#([\w-]+)\)", entry)
            if key and link:
                keys[key] = link.group(1)
    return keys


def _research_anchors(citation: str) -> list[str]:
    """The anchors that a citation such as "§2.1; §5 #1, #3" names, by the mechanical rule.

    §X.Y is research-X-Y, §5 #N is research-5-N (row N of the scenario table) and a bare §X is
    research-X.
    """
    anchors: list[str] = []
    for match in _SECTION.finditer(citation):
        section, subsection, rows = match.groups()
        base = f"research-{section}" + (f"-{subsection}" if subsection else "")
        if rows:
            anchors.extend(f"{base}-{row}" for row in _ROW.findall(rows))
        else:
            anchors.append(base)
    return anchors


def _files_that_link() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += [version / "README.md" for version in TABLE_VERSIONS]
    for folder in ("underwriting", "api", "tests"):
        files += sorted((ROOT / folder).rglob("*.py"))
    files += sorted((ROOT / "api").rglob("*.md"))
    return [path for path in files if path.is_file()]


def _without_quoted_table_citations(text: str) -> str:
    """The text less the quotes, in code, of released tables' citations (`research.md §...`).

    Program output in a fenced block and inline code may quote the `source` column of the
    tables as it is written there; those quotes are checked by the resolution test instead.
    """

    def strip(match: re.Match[str]) -> str:
        return _QUOTED_TABLE_CITATION.sub("§", match.group(0))

    lines = []
    fence: str | None = None  # the info string of the open fenced block, if one is open
    for line in text.splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
        elif fence is not None and fence != "python":
            line = _QUOTED_TABLE_CITATION.sub("§", line)
        lines.append(re.sub(r"`[^`\n]+`", strip, line))
    return "\n".join(lines)


def _old_file_citations(path: Path) -> list[str]:
    text = _without_quoted_table_citations(_text(path))
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if _OLD_FILE.search(line)
    ]


def test_sources_anchors_are_unique_and_cover_the_scheme() -> None:
    """docs/sources.md defines each anchor once and has s1..s71, research-5 and design-notes."""
    anchors = _ANCHOR.findall(_text(SOURCES))
    duplicates = sorted({anchor for anchor in anchors if anchors.count(anchor) > 1})
    assert not duplicates, f"anchors defined twice: {duplicates}"
    expected = {f"s{number}" for number in range(1, 72)} | {"research-5", "design-notes"}
    assert expected <= set(anchors)


@pytest.mark.parametrize("path", _files_that_link(), ids=lambda path: str(path.relative_to(ROOT)))
def test_links_into_sources_resolve(path: Path) -> None:
    """Every link into docs/sources.md in the file (`sources.md#` then an anchor) names an anchor.

    In a Markdown file the link's relative path must also lead to docs/sources.md from the
    file's folder; within docs/sources.md a link `(#s12)` must name one of its own anchors.
    """
    anchors = _anchors()
    text = _text(path)
    missing = [
        f"{target}#{anchor}"
        for target, anchor in _SOURCES_LINK.findall(text)
        if anchor not in anchors
    ]
    assert not missing, f"{path.relative_to(ROOT)} links to anchors that do not exist: {missing}"
    if path.suffix != ".md":
        return
    wrong_path = []
    for target, anchor in _MARKDOWN_LINK.findall(text):
        if not target and path == SOURCES:
            if anchor not in anchors:
                wrong_path.append(f"#{anchor}")
        elif target.endswith("sources.md") and (path.parent / target).resolve() != SOURCES:
            wrong_path.append(f"{target}#{anchor}")
    assert not wrong_path, f"{path.relative_to(ROOT)}: links that do not resolve: {wrong_path}"


def test_the_docs_link_into_sources() -> None:
    """The link check is not vacuous: the README, the guide and the newest tables link in."""
    for path in (ROOT / "README.md", ROOT / "docs" / "actuary-guide.md", NEWEST_TABLES_README):
        assert _SOURCES_LINK.search(_text(path)), f"{path.relative_to(ROOT)} has no such link"


def _table_files() -> list[Path]:
    return [
        path
        for version in TABLE_VERSIONS
        for path in sorted(version.iterdir())
        if path.suffix in {".csv", ".toml", ".md"}
    ]


@pytest.mark.parametrize("path", _table_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_table_citations_resolve(path: Path) -> None:
    """Every § citation in a tables file names a research-... anchor of docs/sources.md.

    The rule is mechanical: §X.Y -> research-X-Y, §5 #N -> research-5-N, §X -> research-X,
    also inside combined forms such as `research.md §2.1; §5 #8 [J]` and tags such as "[J §5]".
    Every § must be followed by a section number.
    """
    anchors = _anchors()
    text = _text(path)
    assert text.count("§") == len(_SECTION.findall(text)), "a § without a section number"
    missing = sorted({anchor for anchor in _research_anchors(text) if anchor not in anchors})
    assert not missing, f"{path.relative_to(ROOT)} cites sections with no entry: {missing}"


def test_table_data_cite_the_research_notes() -> None:
    """The check above is not vacuous: every CSV row's `source` has a resolvable citation."""
    anchors = _anchors()
    for version in TABLE_VERSIONS:
        for path in sorted(version.glob("*.csv")):
            lines = _text(path).splitlines()
            assert lines[0].endswith(",source"), path
            for line in lines[1:]:
                cited = _research_anchors(line.rsplit(",", 1)[-1])
                assert cited, f"{path.relative_to(ROOT)}: no citation in {line!r}"
                assert set(cited) <= anchors, line


@pytest.mark.parametrize(
    "path",
    [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_quoted_table_citations_resolve(path: Path) -> None:
    """A quote of a tables citation in the docs (`research.md §5 #1 [J]`) names existing anchors."""
    anchors = _anchors()
    for quote in re.findall(r"research[.]md (§[^`\n)\"]*)", _text(path)):
        missing = [anchor for anchor in _research_anchors(quote) if anchor not in anchors]
        assert not missing, f"{path.relative_to(ROOT)}: {quote!r} cites {missing}"


@pytest.mark.parametrize("version", TABLE_VERSIONS, ids=lambda path: path.name)
def test_design_citations_of_the_tables_resolve(version: Path) -> None:
    """A `DESIGN "Title"` citation in a tables README names a design note with that heading."""
    text = _text(SOURCES)
    headings = {
        heading.lower()
        for anchor, heading in re.findall(r'<a id="(design-[^"]+)"></a>\n#+ (.+)', text)
    }
    titles = re.findall(r'DESIGN(?:[.]md)?,? "([^"]+)"', _text(version / "README.md"))
    missing = [title for title in titles if title.lower() not in headings]
    assert not missing, f"{version.name}: DESIGN titles with no design note: {missing}"


def _readme_keys(readme: Path) -> list[str]:
    """The keys of the source-key table of a tables README (its first column)."""
    text = _text(readme)
    start = text.index("### Source key")
    table = re.findall(r"^\| (\S+) \|", text[start:].split("\n\n")[1], flags=re.MULTILINE)
    return [key for key in table if key not in {"key", "---"} and not key.startswith("|")]


@pytest.mark.parametrize("version", TABLE_VERSIONS, ids=lambda path: path.name)
def test_source_keys_of_the_tables_have_entries(version: Path) -> None:
    """Every key of a tables README's source-key table is in docs/sources.md's key table.

    Its entry is an anchor of docs/sources.md, and a public source's entry names the key on its
    "Key:" line.
    """
    keys = _source_keys()
    anchors = _anchors()
    used = _readme_keys(version / "README.md")
    assert len(used) > 50, f"{version.name}: the key table was not found"
    missing = [key for key in used if key not in keys]
    assert not missing, f"{version.name}: keys with no entry in docs/sources.md: {missing}"
    text = _text(SOURCES)
    for key in used:
        anchor = keys[key]
        assert anchor in anchors, f"{key} -> #{anchor}, not an anchor"
        if re.fullmatch(r"s\d+", anchor):
            entry = text[text.index(f'<a id="{anchor}"></a>') :].split("\n<a id=", 1)[0]
            assert f"**Key:** {key} " in entry, f"entry {anchor} does not name the key {key}"


def test_newest_tables_link_each_key_to_its_entry() -> None:
    """The newest tables README links each key to the same entry as docs/sources.md's table."""
    keys = _source_keys()
    rows = re.findall(
        r"^\| (\S+) \| \[[^\]]+\]\(\.\./\.\./docs/sources[.]md#([\w-]+)\) \|",
        _text(NEWEST_TABLES_README),
        flags=re.MULTILINE,
    )
    assert len(rows) == len(_readme_keys(NEWEST_TABLES_README))
    wrong = [(key, anchor) for key, anchor in rows if keys.get(key) != anchor]
    assert not wrong, f"keys linked to another entry than docs/sources.md's table: {wrong}"


DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "rating_tables").glob("*/README.md")),
]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_documents_no_longer_cite_the_old_files(path: Path) -> None:
    """The README, docs/ and every tables version's README cite docs/sources.md, never the
    research or design notes kept outside the repository, by file name or by path."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(_text(path).splitlines(), start=1)
        if _OLD_FILE.search(line)
    ]
    assert not found, "\n".join(found)


def test_code_no_longer_cites_the_old_files() -> None:
    """No module of underwriting/ or api/ cites research.md, DESIGN.md, STYLE.md or shared/."""
    found = [
        line
        for folder in ("underwriting", "api")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line in _old_file_citations(path)
    ]
    assert not found, "\n".join(found)
