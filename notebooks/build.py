"""Make the course notebooks (.ipynb) from their sources, the jupytext "percent" scripts notebooks/NN_*.py.

    python notebooks/build.py            # write every NN_*.ipynb next to its NN_*.py
    python notebooks/build.py --check    # exit 1, naming the files, if a committed .ipynb is not what its .py gives

The .py files are the source of truth: they diff and review like code, and they run as plain scripts.
The .ipynb files are committed too, because Colab opens notebooks straight from GitHub; they are made
here and nowhere else: outputs stripped, each cell's id taken from its content (so building twice gives
the same file), and no jupytext pairing metadata (opening one never rewrites a .py). Edit the .py, run
this script, commit both. tests/test_notebooks.py fails when they disagree.
"""

import argparse
import hashlib
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent


def sources():
    """The notebooks' sources, in the course's order: NN_name.py."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def notebook_from_source(path):
    """The notebook that a percent-format .py describes, without outputs, with content-derived cell ids."""
    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata.pop("jupytext", None)                   # no pairing: the .ipynb is an output of this script
    nb.metadata["language_info"] = {"name": "python"}
    seen = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"   # two identical cells: -2, -3
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb


def ipynb_text(path):
    """The .ipynb file's text for the source ``path``."""
    return nbformat.writes(notebook_from_source(path)) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if an .ipynb is out of date")
    args = parser.parse_args(argv)
    stale = []
    for src in sources():
        target = src.with_suffix(".ipynb")
        text = ipynb_text(src)
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
