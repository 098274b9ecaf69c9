"""The docs are tested like code: every Python block runs, and what the pages show is what the code does.

For each page docs/*.md:
- its ```python blocks run in order, in one namespace per page, from a temporary working directory,
  on the NumPy backend (a block whose first line is ``# notest`` is skipped: long or GPU-only);
- a ```text block right after a python block is that block's printed output and must match it;
  on the learner pages every block that prints must show its output;
- the generated tables between ``<!-- table:NAME:BEGIN/END -->`` match the model code;
- every image it shows exists (and every PNG in docs/images is under 200 KB), and every relative link
  to a .md or .py file exists, with its #anchor when it has one.

When a test fails after a change to minigan, refresh the generated text and read the diff:

    python docs/make_figures.py --only tables --only outputs

The code-block runner and the table generator are shared with docs/make_figures.py (imported below).
"""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LEARNER_PAGES = {"index.md", "reading-guide.md", "autograd.md", "gan.md", "transposed-conv.md",
                 "dcgan.md", "cgan.md", "backends.md", "glossary.md"}
# pages written by others, possibly later than these tests: a link to one of them is not checked
# while the page does not exist yet (once it exists, its links and anchors are checked like any other)
PAGES_WRITTEN_ELSEWHERE = {"results.md", "benchmarks.md", "reliability.md"}
REFRESH = "run `python docs/make_figures.py --only tables --only outputs` and check the diff"


def _load_make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mf = _load_make_figures()


def _page_id(path):
    return path.name


def test_the_learner_pages_exist():
    missing = sorted(LEARNER_PAGES - {p.name for p in PAGES})
    assert not missing, f"docs pages missing: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_code_blocks_run_and_show_their_output(page, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    for block, output, printed in mf.run_page(page, tmp_path):
        if printed is None:  # "# notest"
            continue
        printed = mf.normalize_output(printed)
        where = f"{page.name}, the python block at line {block.start + 1}"
        if output is None:
            assert not printed or page.name not in LEARNER_PAGES, (
                f"{where} prints something but the page shows no ```text output after it; {REFRESH}")
            continue
        shown = mf.normalize_output(output.code)
        assert printed == shown, (f"{where}: the page shows\n{shown}\n--- but the block printed ---\n"
                                  f"{printed}\n{REFRESH}")


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_generated_tables_match_the_code(page):
    tables = mf.tables_in(page.read_text(encoding="utf-8"))
    for name, shown in tables.items():
        assert shown == mf.architecture_table(name), f"{page.name}: table {name!r} is out of date; {REFRESH}"


def test_dcgan_tables_have_the_reference_parameter_counts():
    assert mf.architecture_rows("dcgan_generator")[1] == 3_022_147
    assert mf.architecture_rows("dcgan_discriminator")[1] == 2_760_385
    text = (DOCS / "dcgan.md").read_text(encoding="utf-8")
    assert "**3,022,147**" in text and "**2,760,385**" in text


# --- images and links ---------------------------------------------------------------------------------------
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)|<img[^>]+src=\"([^\"]+)\"")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text):
    """The page without its fenced code blocks (links inside code are not links)."""
    lines = text.split("\n")
    for block in reversed(mf.code_blocks(text)):
        del lines[block.start:block.end + 1]
    return "\n".join(lines)


def github_slug(heading):
    """The anchor GitHub gives a heading: link targets dropped, lower case, punctuation dropped, spaces -> hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())       # [text](url) -> text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors_of(path):
    headings = re.finditer(r"^#{1,6}\s+(.*)$", _prose(path.read_text(encoding="utf-8")), re.M)
    return {github_slug(m.group(1)) for m in headings}


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_images_exist(page):
    for m in IMAGE.finditer(_prose(page.read_text(encoding="utf-8"))):
        target = m.group(1) or m.group(2)
        if re.match(r"[a-z]+://", target):
            continue
        assert (page.parent / target).is_file(), f"{page.name} shows {target}, which does not exist"


def test_images_are_small():
    for png in (DOCS / "images").glob("*.png"):
        assert png.stat().st_size < 200_000, f"{png.name} is {png.stat().st_size:,} bytes (limit 200 KB)"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_relative_links_exist(page):
    for m in LINK.finditer(_prose(page.read_text(encoding="utf-8"))):
        target = m.group(1)
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if path_part and not path_part.endswith((".md", ".py")):
            continue
        if not path.exists():
            assert path.name in PAGES_WRITTEN_ELSEWHERE and path.parent == DOCS, (
                f"{page.name} links to {target}, which does not exist")
            continue
        if anchor and path.suffix == ".md":
            assert anchor in anchors_of(path), f"{page.name} links to {target}: no such heading in {path.name}"


# --- the figure script ---------------------------------------------------------------------------------------
def test_make_figures_lists_its_figures(capsys):
    mf.main(["--list"])
    names = capsys.readouterr().out.split()
    for name in ("dilate", "scatter", "subpixel", "checkerboard", "dcgan_shapes", "toy2d", "runs", "tables",
                 "outputs"):
        assert name in names


def test_the_quick_figures_are_made_from_minigan(tmp_path, monkeypatch):
    monkeypatch.setattr(mf, "IMAGES", tmp_path)
    for name in ("dilate", "scatter", "subpixel", "checkerboard"):
        mf.FIGURES[name][0]()  # each asserts its numbers against the conv_transpose2d methods
    for png in tmp_path.glob("*.png"):
        assert 0 < png.stat().st_size < 200_000
    assert len(list(tmp_path.glob("*.png"))) == 4
