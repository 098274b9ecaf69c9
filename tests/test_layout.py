"""The layout keeps the lesson in front (ARCHITECTURE.md): this test keeps it true.

- lesson files (backend, autograd, tensor, functional, optim, training, penalties, ops/, nn/, models/)
  never import the tooling (data/, run/, evaluation/, parallel/, tools/), and their module-level imports
  go one way, down the reading order; the speed kernels (fast/) import only backend;
- every lesson module's docstring says where it sits in the reading order, and the README's reading
  order lists the lesson in the same order;
- every lesson file stays within 300 lines, and one DCGAN iteration in textbook mode steps through at
  most 14 package files holding at most 3,000 lines, at most 10 frames below d_step / g_step. Two
  budgets are today's measurements, above their targets: the distinct lines that iteration executes
  (target 450: about 55 of them are input checks, what the checks compute, and mg.grad's support in the
  engine loop) and the lesson core as a whole (target 3,000: a quarter of its lines are explanations,
  docstrings and comments, a fifth blank). Its code lines alone have a budget of their own.
"""

import ast
import os
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "minigan"
sys.path.insert(0, str(ROOT / "benchmarks"))
# the lesson's reading order (a module may import, at module level, only from its own group or earlier
# ones), the lesson core's files, and how their lines divide into code, explanation and blank: one
# definition, shared with the script that measures them
from lesson_size import LESSON_ORDER, lesson_files, line_kinds  # noqa: E402
TOOLING = ("data", "run", "evaluation", "parallel", "tools")
FILE_BUDGET = 300                                            # lines, every lesson file
CORE_BUDGET = 4050                                           # lines, all lesson files; the target is 3,000
CODE_BUDGET = 2200                                           # of which code (2,167 on 2026-12-07): no docstring,
                                                             # comment or blank line (benchmarks/lesson_size.py)
TRACE_BUDGET = {"files": 14, "lines in those files": 3000, "distinct lines": 490,   # target 450
                "frames below the step": 10}


def group_of(path):
    """'ops' for minigan/ops/conv.py, 'training' for minigan/training.py, 'fast', 'run', ..."""
    parts = path.relative_to(PKG).with_suffix("").parts
    return parts[0] if parts[0] != "__init__" else "minigan"


def imported_groups(path, top_level_only):
    """The minigan groups a file imports: ('ops', 'minigan.ops.conv'), ..."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "minigan":
            names = [node.module + "." + a.name if node.module == "minigan" else node.module for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "minigan"]
        for name in names:
            parts = name.split(".")
            if len(parts) > 1:
                yield parts[1], name


def test_the_lesson_and_the_speed_kernels_never_import_the_tooling():
    bad = [f"{p.relative_to(ROOT)} imports {name}" for p in lesson_files() + sorted((PKG / "fast").glob("*.py"))
           for group, name in imported_groups(p, top_level_only=False) if group in TOOLING]
    assert not bad, "the lesson must not depend on the tooling:\n" + "\n".join(bad)


def test_the_speed_kernels_import_only_the_backend():
    bad = [f"{p.relative_to(ROOT)} imports {name}" for p in sorted((PKG / "fast").glob("*.py"))
           for group, name in imported_groups(p, top_level_only=False) if group not in ("backend", "fast")]
    assert not bad, "fast/ is arrays in, arrays out (no Function, no Tensor):\n" + "\n".join(bad)


def test_lesson_imports_go_one_way_down_the_reading_order():
    bad = []
    for p in lesson_files():
        mine = LESSON_ORDER.index(group_of(p))
        for group, name in imported_groups(p, top_level_only=True):
            if group in LESSON_ORDER and LESSON_ORDER.index(group) > mine:
                bad.append(f"{p.relative_to(ROOT)} ({group_of(p)}) imports {name}, which comes later")
    assert not bad, "an import runs back up the reading order:\n" + "\n".join(bad)


def test_every_lesson_module_says_where_it_sits_and_the_readme_agrees():
    missing = []
    for p in lesson_files():
        doc = ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) or ""
        if p.name == "__init__.py":
            continue
        if "Reading order" not in doc or "**" not in doc:
            missing.append(str(p.relative_to(ROOT)))
    assert not missing, f"module docstrings without their place in the reading order: {missing}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(l for l in readme.splitlines() if "`backend.py` ->" in l)
    named = [re.sub(r"(\.py|/)$", "", n) for n in re.findall(r"`([\w/]+(?:\.py|/))`", line)]
    lesson_named = [n for n in named if n in LESSON_ORDER]
    assert lesson_named == [g for g in LESSON_ORDER if g in lesson_named] and set(lesson_named) >= \
        {"backend", "autograd", "ops", "tensor", "nn", "optim", "models", "training"}, line


def test_the_lesson_stays_small():
    sizes = {str(p.relative_to(PKG)): len(p.read_text(encoding="utf-8").splitlines()) for p in lesson_files()}
    over = {name: n for name, n in sizes.items() if n > FILE_BUDGET}
    assert not over, f"lesson files over {FILE_BUDGET} lines (split them, or move speed/tooling out): {over}"
    assert sum(sizes.values()) <= CORE_BUDGET, f"the lesson core grew to {sum(sizes.values())} lines"
    code = sum(line_kinds(p.read_text(encoding="utf-8"))[0] for p in lesson_files())
    assert code <= CODE_BUDGET, f"the lesson core grew to {code} lines of code (benchmarks/lesson_size.py)"


def trace_one_iteration():
    """Step through one DCGAN d_step + g_step in textbook mode with sys.settrace, as a debugger would:
    the package files and distinct lines it executes, and the deepest stack of package frames below
    d_step / g_step."""
    import minigan as mg
    from minigan.models import build
    from minigan.training import TrainConfig, d_step, g_step

    mg.manual_seed(0)
    G, D = build({"name": "dcgan", "latent_dim": 16})
    config = TrainConfig(batch_size=2, latent_dim=16)
    opt_G, opt_D = mg.optim.Adam(G.parameters()), mg.optim.Adam(D.parameters())
    real = mg.tensor(np.random.default_rng(0).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32))
    lines, depth, pkg = set(), [0], str(PKG)

    def tracer(frame, event, arg):
        if event == "call":
            d, f = 0, frame
            while f is not None and f.f_code.co_name not in ("d_step", "g_step"):
                d += f.f_code.co_filename.startswith(pkg)
                f = f.f_back
            if f is not None:
                depth[0] = max(depth[0], d)
        elif event == "line" and frame.f_code.co_filename.startswith(pkg):
            lines.add((frame.f_code.co_filename, frame.f_lineno))
        return tracer

    with mg.textbook():
        sys.settrace(tracer)
        try:
            d_step(G, D, opt_D, real, None, config)
            g_step(G, D, opt_G, 2, None, config)
        finally:
            sys.settrace(None)
    files = {f for f, _ in lines}
    size = sum(len(Path(f).read_text(encoding="utf-8").splitlines()) for f in files)
    return {"files": len(files), "lines in those files": size, "distinct lines": len(lines),
            "frames below the step": depth[0]}, files


def test_one_textbook_iteration_steps_through_no_more_than_today():
    measured, files = trace_one_iteration()
    print(measured, sorted(os.path.relpath(f, PKG) for f in files))
    assert all(measured[k] <= TRACE_BUDGET[k] for k in TRACE_BUDGET), (measured, TRACE_BUDGET)
    assert not any("/fast/" in f for f in files), "textbook mode ran a speed kernel"
