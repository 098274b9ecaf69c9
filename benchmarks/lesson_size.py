"""How many lines a learner reads: the lesson core's files, each split into code, explanation and blank lines.

    python benchmarks/lesson_size.py                      # minigan's lesson core (tests/test_layout.py's list)
    python benchmarks/lesson_size.py --files a.py b.py    # any other files, e.g. another framework's, to compare

A line is "explanation" when it is part of a docstring (module, class or function) or a comment-only
line; "blank" when it holds only whitespace; "code" otherwise (a code line with a trailing comment counts
as code). The lesson core is what the reading guide's path covers: the groups of LESSON_ORDER below.
tests/test_layout.py takes this list from here and holds it to its line budgets.
"""

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "minigan"
# the reading order of the lesson's groups: minigan/<group>.py or minigan/<group>/
LESSON_ORDER = ["backend", "autograd", "ops", "tensor", "functional", "nn", "optim", "models", "training", "penalties"]


def lesson_files():
    """The lesson core: minigan/<group>.py and minigan/<group>/**.py for every group in LESSON_ORDER."""
    return [p for p in sorted(PKG.rglob("*.py")) if p.relative_to(PKG).with_suffix("").parts[0] in LESSON_ORDER]


def line_kinds(source):
    """(code, explanation, blank) line counts of one Python source."""
    lines = source.splitlines()
    docstring_lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstring_lines.update(range(first.lineno, first.end_lineno + 1))
    blank = sum(1 for line in lines if not line.strip())
    comments = sum(1 for i, line in enumerate(lines, 1)
                   if line.strip().startswith("#") and i not in docstring_lines)
    explanation = len(docstring_lines) + comments
    return len(lines) - explanation - blank, explanation, blank


def table(paths, base):
    """Markdown rows per file and a total row: lines, code, explanation, blank."""
    rows, total = [], [0, 0, 0, 0]
    for path in paths:
        code, explanation, blank = line_kinds(path.read_text(encoding="utf-8"))
        counts = [code + explanation + blank, code, explanation, blank]
        total = [t + c for t, c in zip(total, counts)]
        name = path.relative_to(base) if path.is_relative_to(base) else path
        rows.append(f"| {name} | " + " | ".join(f"{c:,}" for c in counts) + " |")
    share = [f"{c:,} ({c / max(total[0], 1):.0%})" for c in total[1:]]
    rows.append(f"| **{len(paths)} files** | **{total[0]:,}** | " + " | ".join(share) + " |")
    return ["| file | lines | code | explanation | blank |", "|---|---|---|---|---|", *rows], total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", type=Path, help="count these files instead of minigan's lesson core")
    parser.add_argument("--totals-only", action="store_true", help="print only the total row")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.files] if args.files else lesson_files()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"lesson_size.py: expected Python files, these do not exist: {', '.join(missing)}")
    rows, _ = table(paths, PKG if not args.files else Path.cwd())
    print("\n".join(rows[-1:] if args.totals_only else rows))


if __name__ == "__main__":
    main()
