"""Make the course notebooks (.ipynb) from their sources, the jupytext "percent" scripts notebooks/NN_*.py.

    python notebooks/build.py            # write every NN_*.ipynb next to its NN_*.py, and the Colab links
    python notebooks/build.py --check    # exit 1, naming the files, if a committed file is not what it gives

The .py files are the source of truth: they diff and review like code, and they run as plain scripts.
The .ipynb files are committed too, because Colab opens notebooks straight from GitHub; they are made
here and nowhere else: outputs stripped, each cell's id taken from its content (so building twice gives
the same file), and no jupytext pairing metadata (opening one never rewrites a .py). Edit the .py, run
this script, commit both. tests/test_notebooks.py fails when they disagree.

The repository's public address lives in one place, ``Repository`` under ``[project.urls]`` in
pyproject.toml (absent until the repository is published). From it this script writes REPO_URL into
every notebook's setup cell (``git+<address>``: what Colab pip-installs minigan from) and, for a GitHub
address, the "Open in Colab" links between the two markers in notebooks/README.md. Publishing the
repository is: add that line, run this script, commit.
"""

import argparse
import hashlib
import re
import sys
from pathlib import Path

try:
    import tomllib                                      # Python 3.11+
except ModuleNotFoundError:                             # Python 3.10: the TOML reader pip itself uses
    from pip._vendor import tomli as tomllib

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
PYPROJECT = HERE.parent / "pyproject.toml"
BRANCH = "main"                                         # the branch Colab opens the notebooks from
REPO_URL_LINE = re.compile(r'^REPO_URL = "[^"]*"', re.MULTILINE)   # in the setup cell (the first code cell)
GITHUB = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?")
BEGIN = "<!-- colab links: written by notebooks/build.py from pyproject.toml, [project.urls] Repository -->"
END = "<!-- end of the colab links -->"


def repository():
    """The repository's public address: ``Repository`` under ``[project.urls]`` in pyproject.toml, or None."""
    with open(PYPROJECT, "rb") as f:
        return tomllib.load(f).get("project", {}).get("urls", {}).get("Repository")


def repo_url(address):
    """What the setup cell pip-installs minigan from: "git+<address>", or "" when there is no address."""
    return f"git+{address}" if address else ""


def colab_link(address, name):
    """The Colab address that opens notebooks/<name>.ipynb from GitHub; None for an address not on GitHub."""
    m = GITHUB.fullmatch(address or "")
    return m and f"https://colab.research.google.com/github/{m[1]}/{m[2]}/blob/{BRANCH}/notebooks/{name}.ipynb"


def colab_block(address, names):
    """The lines between the two markers in notebooks/README.md."""
    if not address:
        lines = ["No public address is set yet: pyproject.toml has no `Repository` under `[project.urls]`, so",
                 "there are no Colab links here and the setup cells' `REPO_URL` is empty (see the next paragraph)."]
    elif colab_link(address, names[0]) is None:
        lines = [f"The repository, {address}, is not on GitHub, and Colab opens notebooks from GitHub only:",
                 "upload a notebook to Colab (*File > Upload notebook*); its setup cell installs minigan",
                 "from that address."]
    else:
        lines = [f"Open in Colab (from {address}, branch `{BRANCH}`):", ""]
        lines += [f"- [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                  f"({colab_link(address, name)}) {name}" for name in names]
    return "\n".join([BEGIN, *lines, END])


def readme_text(address):
    """notebooks/README.md with its Colab block made from ``address``."""
    text = (HERE / "README.md").read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"notebooks/README.md lost the two lines between which the Colab links go:\n{BEGIN}\n{END}")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + colab_block(address, [src.stem for src in sources()]) + text[end:]


def sources():
    """The notebooks' sources, in the course's order: NN_name.py."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def notebook_from_source(path, address=None):
    """The notebook that a percent-format .py describes, without outputs, with content-derived cell ids,
    and REPO_URL in its setup cell made from ``address`` (default: pyproject.toml's)."""
    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata.pop("jupytext", None)                   # no pairing: the .ipynb is an output of this script
    nb.metadata["language_info"] = {"name": "python"}
    setup = next(cell for cell in nb.cells if cell.cell_type == "code")
    if len(REPO_URL_LINE.findall(setup.source)) != 1:
        raise ValueError(f"{path.name}: the first code cell needs one line `REPO_URL = \"...\"`")
    url = repo_url(repository() if address is None else address)
    setup.source = REPO_URL_LINE.sub(f'REPO_URL = "{url}"', setup.source)
    seen = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"   # two identical cells: -2, -3
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb


def ipynb_text(path, address=None):
    """The .ipynb file's text for the source ``path``."""
    return nbformat.writes(notebook_from_source(path, address)) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 if an .ipynb or the README's Colab links are out of date")
    args = parser.parse_args(argv)
    stale, address = [], repository()
    outputs = [(src.with_suffix(".ipynb"), ipynb_text(src, address)) for src in sources()]
    for target, text in outputs + [(HERE / "README.md", readme_text(address))]:
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(HERE.parent)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run `python notebooks/build.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
