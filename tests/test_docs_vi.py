"""The Vietnamese pages: docs/vi/X.md translates docs/X.md, is tested like it and kept in step with it.

For each page docs/vi/X.md:
- its ```python blocks run in order and print exactly what the ```text block after each shows (the runner
  of docs/make_figures.py, as in tests/test_docs.py); every block that prints shows its output;
- every image and every relative link exists (with its #anchor, when it has one);
- it is in step with docs/X.md: the same number of headings at each level, in the same order; the same
  code blocks in the same order, where a python block is the same code (only its ``#`` comments may be
  translated), a text block (printed output, a recorded session) is identical, and so are the generated
  tables between ``<!-- table:NAME:BEGIN/END -->``;
- the line under its title links back to docs/X.md.

A section that only the Vietnamese page has is marked by a line ``<!-- vi-only -->`` right above its
heading; it is left out of the comparison (it must then hold no fenced code block).

When the English page changes, its Vietnamese page changes with it: translate a new section and put it
at the same place, copy a changed code block (translate its comments if you like), and copy refreshed
outputs and tables from the English page (``python docs/make_figures.py --only tables --only outputs``
refreshes the English pages only; the same code prints the same text).
"""

import io
import re
import tokenize
import unicodedata
from pathlib import Path

import pytest

from test_docs import IMAGE, LINK, _prose, anchors_of, mf

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
VI = DOCS / "vi"
VI_PAGES = sorted(VI.glob("*.md"))
REQUIRED = {"index.md", "reading-guide.md", "transposed-conv.md", "gan.md", "dcgan.md", "cgan.md"}
VI_ONLY = "<!-- vi-only -->"
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


def _page_id(path):
    return path.name


def english_of(page):
    return DOCS / page.name


class Heading:
    def __init__(self, level, text, line, vi_only):
        self.level, self.text, self.line, self.vi_only = level, text, line, vi_only

    def __str__(self):
        return f"{'#' * self.level} {self.text}"


def headings(path):
    """[Heading] of a page, in order, outside fenced code blocks (line numbers from 1)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    in_code = set()
    for block in mf.code_blocks(text):
        in_code.update(range(block.start, block.end + 1))
    found = []
    for i, line in enumerate(lines):
        m = HEADING.match(line)
        if m and i not in in_code:
            vi_only = i > 0 and lines[i - 1].strip() == VI_ONLY
            found.append(Heading(len(m.group(1)), m.group(2), i + 1, vi_only))
    return found


def _side_by_side(name, en, vi):
    rows = [f"  {'#':>3}  {'docs/' + name:<56}  docs/vi/{name}"]
    for i in range(max(len(en), len(vi))):
        e = str(en[i])[:56] if i < len(en) else "(none)"
        v = str(vi[i])[:56] if i < len(vi) else "(none)"
        mark = "   " if i < len(en) and i < len(vi) and en[i].level == vi[i].level else "<- "
        rows.append(f"{mark}{i + 1:>3}  {e:<56}  {v}")
    return "\n".join(rows)


def code_tokens(code):
    """The tokens of a python block without its comments: two blocks that differ only in comments are equal."""
    skip = (tokenize.COMMENT, tokenize.NL)
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type not in skip]


def first_difference(code_a, code_b):
    """(line of a, line of b) where two python blocks first differ, comments left out."""
    def located(code):
        lines = code.split("\n")
        return [((t.type, t.string), "(end of block)" if t.type == tokenize.ENDMARKER else lines[t.start[0] - 1])
                for t in tokenize.generate_tokens(io.StringIO(code).readline)
                if t.type not in (tokenize.COMMENT, tokenize.NL)]
    for (token_a, line_a), (token_b, line_b) in zip(located(code_a), located(code_b)):
        if token_a != token_b:
            return line_a, line_b
    return "(the same)", "(the same)"


def _blocks_outside_vi_only(path):
    """The fenced blocks of a page, without those inside a vi-only section (there must be none)."""
    text = path.read_text(encoding="utf-8")
    marked = [h for h in headings(path) if h.vi_only]
    blocks = mf.code_blocks(text)
    for h in marked:
        later = [x.line for x in headings(path) if x.line > h.line and x.level <= h.level]
        end = later[0] if later else len(text.split("\n")) + 1
        inside = [b for b in blocks if h.line <= b.start + 1 < end]
        assert not inside, (f"docs/vi/{path.name}: the vi-only section `{h}` (line {h.line}) holds a fenced "
                            f"code block (line {inside[0].start + 1}); code blocks must be those of the English page")
    return blocks


# --- the pages exist, each with its English original ------------------------------------------------------
def test_the_vietnamese_learning_path_exists():
    missing = sorted(REQUIRED - {p.name for p in VI_PAGES})
    assert not missing, f"docs/vi pages missing: {missing}"


@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_each_page_has_an_english_original(page):
    assert english_of(page).is_file(), (
        f"docs/vi/{page.name} has no English original docs/{page.name}: a Vietnamese page translates the "
        f"English page of the same name")


@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_the_line_under_the_title_links_to_the_english_page(page):
    lines = [line for line in page.read_text(encoding="utf-8").split("\n") if line.strip()]
    assert lines[0].startswith("# "), f"docs/vi/{page.name} must start with its title (`# ...`)"
    targets = [(page.parent / m.group(1).partition("#")[0]).resolve() for m in LINK.finditer(lines[1])]
    assert english_of(page).resolve() in targets, (
        f"docs/vi/{page.name}: the line under the title must link to the English original, e.g.\n"
        f"> Bản gốc tiếng Anh (English original): [docs/{page.name}](../{page.name})\n"
        f"but it is: {lines[1]!r}")


def test_the_vietnamese_index_links_every_vietnamese_page():
    index = (VI / "index.md").read_text(encoding="utf-8")
    targets = {(VI / m.group(1).partition("#")[0]).resolve() for m in LINK.finditer(_prose(index))}
    unlinked = [p.name for p in VI_PAGES if p.resolve() not in targets]
    assert not unlinked, f"docs/vi/index.md does not link to {unlinked}"


@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_pages_are_nfc(page):
    """Vietnamese letters written as one code point each (NFC): anchors and searches depend on it."""
    text = page.read_text(encoding="utf-8")
    for n, line in enumerate(text.split("\n"), 1):
        assert line == unicodedata.normalize("NFC", line), (
            f"docs/vi/{page.name}, line {n}: letters with separate combining accents (not NFC); "
            f"re-save the page as NFC, e.g. python -c \"import unicodedata, pathlib; p = pathlib.Path("
            f"'docs/vi/{page.name}'); p.write_text(unicodedata.normalize('NFC', p.read_text()))\"")


# --- (a) the code blocks run and show their output --------------------------------------------------------
@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_code_blocks_run_and_show_their_output(page, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    try:
        results = mf.run_page(page, tmp_path)
    except RuntimeError as err:
        pytest.fail(f"docs/vi/{err}")
    for block, output, printed in results:
        if printed is None:  # "# notest"
            continue
        printed = mf.normalize_output(printed)
        where = f"docs/vi/{page.name}, the python block at line {block.start + 1}"
        assert output is not None or not printed, (
            f"{where} prints something but the page shows no ```text output after it; copy the output "
            f"block of docs/{page.name}")
        if output is None:
            continue
        shown = mf.normalize_output(output.code)
        assert printed == shown, (f"{where}: the page shows\n{shown}\n--- but the block printed ---\n{printed}\n"
                                  f"copy the block and its output from docs/{page.name} (refreshed with "
                                  f"`python docs/make_figures.py --only outputs`)")


# --- (b) images and links --------------------------------------------------------------------------------
@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_images_exist(page):
    for m in IMAGE.finditer(_prose(page.read_text(encoding="utf-8"))):
        target = m.group(1) or m.group(2)
        if re.match(r"[a-z]+://", target):
            continue
        assert (page.parent / target).is_file(), (
            f"docs/vi/{page.name} shows {target}, which does not exist (the pictures are shared: ../images/...)")


@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_relative_links_exist(page):
    for m in LINK.finditer(_prose(page.read_text(encoding="utf-8"))):
        target = m.group(1)
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        assert path.exists(), (f"docs/vi/{page.name} links to {target}, which does not exist (from docs/vi/, "
                               f"an English page is ../X.md and a file of the repository ../../path)")
        if anchor and path.suffix == ".md":
            assert anchor in anchors_of(path), (
                f"docs/vi/{page.name} links to {target}: no such heading in docs/{path.relative_to(DOCS)}")


# --- (c) the two languages in step -----------------------------------------------------------------------
@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_headings_are_in_step_with_the_english_page(page):
    en = headings(english_of(page))
    vi = [h for h in headings(page) if not h.vi_only]
    table = _side_by_side(page.name, en, vi)
    for i, e in enumerate(en):
        if i < len(vi) and vi[i].level == e.level:
            continue
        there = (f"its heading {i + 1} is `{vi[i]}` (line {vi[i].line})" if i < len(vi)
                 else f"it has only {len(vi)} headings")
        pytest.fail(f"docs/{page.name} heading {i + 1} of {len(en)}, `{e}` (line {e.line}), has no Vietnamese "
                    f"counterpart in docs/vi/{page.name}: {there}.\nTranslate that English section and put it "
                    f"in docs/vi/{page.name} at the same place, with the same level ({'#' * e.level}). Headings "
                    f"are matched by position: if the new section is earlier on the page, find it in the lists "
                    f"below (<- marks where the levels first part).\n{table}")
    if len(vi) > len(en):
        pytest.fail(f"docs/vi/{page.name} has {len(vi)} headings, docs/{page.name} {len(en)}: `{vi[len(en)]}` "
                    f"(line {vi[len(en)].line}) and after have no English counterpart. Remove them, or mark a "
                    f"Vietnamese-only section with a line {VI_ONLY} above its heading.\n{table}")


def _describe(block, page_path):
    first = next((line for line in block.lines if line.strip()), "")
    return f"```{block.lang or ''} block at line {block.start + 1} of {page_path} (`{first.strip()[:60]}`)"


@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_code_blocks_are_those_of_the_english_page(page):
    en = mf.code_blocks(english_of(page).read_text(encoding="utf-8"))
    vi = _blocks_outside_vi_only(page)
    en_name, vi_name = f"docs/{page.name}", f"docs/vi/{page.name}"
    for i, e in enumerate(en):
        if i >= len(vi):
            pytest.fail(f"{en_name} has {len(en)} fenced code blocks, {vi_name} {len(vi)}: the "
                        f"{_describe(e, en_name)} (block {i + 1}) and after have no counterpart. Copy them "
                        f"into {vi_name} at the same places.")
        v = vi[i]
        if v.lang != e.lang:
            pytest.fail(f"block {i + 1}: the {_describe(e, en_name)} has no counterpart in {vi_name}, whose "
                        f"block {i + 1} is the {_describe(v, vi_name)}. Copy the English block into "
                        f"{vi_name} at the same place.")
        if e.lang == "python":
            assert v.skipped == e.skipped, (
                f"block {i + 1}: the {_describe(e, en_name)} {'starts' if e.skipped else 'does not start'} with "
                f"`# notest`, its counterpart in {vi_name} must too (keep that comment in English)")
            if code_tokens(v.code) != code_tokens(e.code):
                line_vi, line_en = first_difference(v.code, e.code)
                pytest.fail(f"block {i + 1}: the {_describe(v, vi_name)} is not the code of the "
                            f"{_describe(e, en_name)}; they first differ at\n  English:    {line_en}\n"
                            f"  Vietnamese: {line_vi}\ncopy the English code (only # comments may be translated)")
        else:
            assert v.code == e.code, (
                f"block {i + 1}: the {_describe(v, vi_name)} differs from the {_describe(e, en_name)}; "
                f"copy the English block (printed output stays as the code prints it)")
    assert len(vi) == len(en), (
        f"{vi_name} has {len(vi)} fenced code blocks, {en_name} {len(en)}: the {_describe(vi[len(en)], vi_name)} "
        f"and after have no English counterpart")


@pytest.mark.parametrize("page", VI_PAGES, ids=_page_id)
def test_generated_tables_are_those_of_the_english_page(page):
    en = mf.tables_in(english_of(page).read_text(encoding="utf-8"))
    vi = mf.tables_in(page.read_text(encoding="utf-8"))
    assert list(vi) == list(en), (f"docs/vi/{page.name} has the generated tables {list(vi)}, docs/{page.name} "
                                  f"{list(en)}: the same tables, in the same order")
    for name in en:
        assert vi[name] == en[name], (f"docs/vi/{page.name}: table {name!r} differs from docs/{page.name}'s; "
                                      f"copy it from the English page (generated, it stays in English)")
