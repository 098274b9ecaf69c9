"""Make every figure of the docs FROM MINIGAN ITSELF, and refresh the generated parts of the pages.

    python docs/make_figures.py                  # everything (the toy GAN: under a minute on a quiet CPU)
    python docs/make_figures.py --list           # the names, with what each one makes
    python docs/make_figures.py --only tables --only outputs

Every number in a figure is computed by minigan: the transposed-convolution pictures call
``F.dilate2d`` / ``F.pad2d`` / ``F.conv2d`` / ``F.conv_transpose2d``, the architecture tables walk the
model classes in ``minigan/models/``, and the printed outputs under the code blocks of the pages are
what those blocks print when run. Two kinds of generated text live in the Markdown pages:

- tables between ``<!-- table:NAME:BEGIN -->`` and ``<!-- table:NAME:END -->`` (``tables``);
- a ```text block right after a ```python block is that block's printed output (``outputs``).

``tests/test_docs.py`` imports this file to run the same code blocks and to check that both are up
to date; if it fails after a change to minigan, run ``python docs/make_figures.py --only tables
--only outputs`` and read the diff.

Figures go to ``docs/images/`` as small PNGs (each under 200 KB).
"""

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
IMAGES = DOCS / "images"
RUNS = ROOT / "runs"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without `pip install -e .`

import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
import minigan.functional as F  # noqa: E402
from minigan import backend, nn  # noqa: E402

MAX_BYTES = 200_000

# ====================================================================================================
# Code blocks of the Markdown pages: find them, run them, compare / refresh their printed output
# ====================================================================================================
FENCE = re.compile(r"^```([\w-]*)\s*$")


class Block:
    """One fenced code block: its language, its code, and the lines [start, end] of its fences."""

    def __init__(self, lang, start, end, lines):
        self.lang, self.start, self.end, self.lines = lang, start, end, lines

    @property
    def code(self):
        return "\n".join(self.lines) + "\n"

    @property
    def skipped(self):
        return bool(self.lines) and self.lines[0].strip().startswith("# notest")


def code_blocks(text):
    """All fenced blocks of a Markdown text, in order (fences must start at column 0)."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:                                        # an opening fence, with or without a language
            start, i = i, i + 1
            while i < len(lines) and lines[i] != "```":
                i += 1
            blocks.append(Block(m.group(1), start, i, lines[start + 1:i]))
        i += 1
    return blocks


def python_blocks_with_outputs(text):
    """[(python block, its ```text output block or None)]: the output must follow, blank lines apart."""
    blocks, lines, pairs = code_blocks(text), text.split("\n"), []
    for i, b in enumerate(blocks):
        if b.lang != "python":
            continue
        output = None
        if i + 1 < len(blocks) and blocks[i + 1].lang == "text":
            between = lines[b.end + 1:blocks[i + 1].start]
            if all(not line.strip() for line in between):
                output = blocks[i + 1]
        pairs.append((b, output))
    return pairs


def run_page(path, workdir):
    """Run the python blocks of one page in order, in one namespace, from ``workdir``.

    Returns [(block, expected output block or None, printed text)]. Blocks whose first line is
    ``# notest`` are skipped (their output is None). Raises RuntimeError naming page and line.
    """
    text = Path(path).read_text(encoding="utf-8")
    os.environ["MINIGAN_BACKEND"] = "numpy"
    mg.set_backend("numpy")
    mg.manual_seed(0)
    namespace = {"__name__": "__docs__"}
    results, here = [], os.getcwd()
    os.chdir(workdir)
    try:
        for block, output in python_blocks_with_outputs(text):
            if block.skipped:
                results.append((block, output, None))
                continue
            buffer = io.StringIO()
            try:
                with contextlib.redirect_stdout(buffer):
                    exec(compile(block.code, f"{Path(path).name}:{block.start + 2}", "exec"), namespace)
            except Exception as err:
                raise RuntimeError(f"{Path(path).name}, code block at line {block.start + 1}: "
                                   f"{type(err).__name__}: {err}\n--- printed so far ---\n"
                                   f"{buffer.getvalue()}") from err
            results.append((block, output, buffer.getvalue()))
    finally:
        os.chdir(here)
        mg.set_backend("numpy")
    return results


def normalize_output(text):
    """Printed text as it is stored in a page: trailing spaces and trailing blank lines dropped."""
    return "\n".join(line.rstrip() for line in text.rstrip("\n").split("\n"))


def refresh_outputs(pages=None):
    """Re-run every page's python blocks and write what they print into the ```text blocks after them."""
    import tempfile

    for path in pages or sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory() as tmp:
            results = run_page(path, tmp)
        lines = text.split("\n")
        # edit from the bottom up so that earlier line numbers stay valid
        for block, output, printed in reversed(results):
            if printed is None:
                continue
            printed = normalize_output(printed)
            if not printed:
                continue
            new = ["```text", *printed.split("\n"), "```"]
            if output is not None:
                lines[output.start:output.end + 1] = new
            else:
                lines[block.end + 1:block.end + 1] = ["", *new]
        new_text = "\n".join(lines)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            print(f"  updated the printed outputs in {path.relative_to(ROOT)}")


# ====================================================================================================
# Architecture tables, generated from the model classes
# ====================================================================================================
def _shape(t):
    return "(N, " + ", ".join(str(n) for n in t.shape[1:]) + ")"


def _leaf_modules(module, prefix):
    """(dotted name, leaf module) of a Sequential, in order."""
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            yield from _leaf_modules(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


def _rows_through(seq, x, prefix):
    """Feed x through a Sequential layer by layer: [(name, repr, output shape, parameters)], output."""
    rows = []
    for name, layer in _leaf_modules(seq, prefix):
        x = layer(x)
        rows.append((name, repr(layer), _shape(x), layer.num_parameters()))
    return rows, x


def architecture_rows(name):
    """The rows of one table: (layer, module, output shape, parameters), and the model's total."""
    from minigan.models import cgan, dcgan, gan

    mg.manual_seed(0)
    n = 2  # two samples: BatchNorm in training mode needs more than one value per channel
    with mg.no_grad():
        if name in ("dcgan_generator", "dcgan_discriminator", "dcgan_k5_generator", "dcgan_k5_discriminator"):
            k = 5 if "k5" in name else 4
            if name.endswith("generator"):
                model = dcgan.Generator(128, k)
                rows, _ = _rows_through(model.net, mg.randn(n, 128), "net.")
                rows.insert(0, ("input", "z", "(N, 128)", 0))
            else:
                model = dcgan.Discriminator(k)
                rows, _ = _rows_through(model.net, mg.randn(n, 3, 32, 32), "net.")
                rows.insert(0, ("input", "image x", "(N, 3, 32, 32)", 0))
        elif name in ("dcgan64_generator", "dcgan64_discriminator"):
            if name.endswith("generator"):
                model = dcgan.Generator(128, 4, image_size=64)
                rows, _ = _rows_through(model.net, mg.randn(n, 128), "net.")
                rows.insert(0, ("input", "z", "(N, 128)", 0))
            else:
                model = dcgan.Discriminator(4, image_size=64)
                rows, _ = _rows_through(model.net, mg.randn(n, 3, 64, 64), "net.")
                rows.insert(0, ("input", "image x", "(N, 3, 64, 64)", 0))
        elif name == "gan_generator":
            model = gan.Generator(100)
            rows, _ = _rows_through(model.net, mg.randn(n, 100), "net.")
            rows.insert(0, ("input", "z", "(N, 100)", 0))
        elif name == "gan_discriminator":
            model = gan.Discriminator()
            rows, _ = _rows_through(model.net, mg.randn(n, 1, 28, 28), "net.")
            rows.insert(0, ("input", "image x", "(N, 1, 28, 28)", 0))
        elif name == "cgan_generator":
            model = cgan.Generator(100, 10)
            labels = mg.Tensor(backend.to_device(np.array([3, 7], dtype=np.int64)))   # two class labels
            rows = [("input", "labels y (integers 0..9)", "(N,)", 0)]
            label_rows, label_map = _rows_through(model.label_path, labels, "label_path.")
            rows += label_rows
            rows.append(("input", "z", "(N, 100)", 0))
            noise_rows, noise_map = _rows_through(model.noise_path, mg.randn(n, 100), "noise_path.")
            rows += noise_rows
            joined = mg.cat([noise_map, label_map], axis=1)
            rows.append(("cat", "cat([noise, label], axis=1)", _shape(joined), 0))
            net_rows, _ = _rows_through(model.net, joined, "net.")
            rows += net_rows
        elif name == "cgan_discriminator":
            model = cgan.Discriminator(10)
            labels = mg.Tensor(backend.to_device(np.array([3, 7], dtype=np.int64)))   # two class labels
            rows = [("input", "labels y (integers 0..9)", "(N,)", 0)]
            label_rows, label_map = _rows_through(model.label_path, labels, "label_path.")
            rows += label_rows
            rows.append(("input", "image x", "(N, 1, 28, 28)", 0))
            joined = mg.cat([mg.randn(n, 1, 28, 28), label_map], axis=1)
            rows.append(("cat", "cat([x, label], axis=1)", _shape(joined), 0))
            net_rows, _ = _rows_through(model.net, joined, "net.")
            rows += net_rows
        else:
            raise KeyError(name)
    total = model.num_parameters()
    if sum(r[3] for r in rows) != total:
        raise AssertionError(f"{name}: the layer rows add up to {sum(r[3] for r in rows)}, "
                             f"the model has {total} parameters")
    return rows, total


def _shape_or_none(a):
    return "None" if a is None else str(tuple(a.shape))


def debug_shapes_rows(batch=64):
    """Run one DCGAN iteration (d_step, g_step) at ``batch`` and record what each backward sees.

    Rows: (phase, "Class.backward", weight shape, g shape, saved arrays, returned gradient shapes, count).
    Identical rows of one phase are merged (D's layers run twice in the D step: real and fake batch).
    """
    from minigan import optim
    from minigan.models import build
    from minigan.ops import activations, arith, conv
    from minigan.training import TrainConfig, d_step, g_step

    # what each backward reads besides g: saved arrays (self.cols) and its input tensors (self.inputs)
    saved_attrs = {"Conv2d": ("cols",), "ConvTranspose2d": (), "Linear": (), "BinaryCrossEntropyWithLogits": ()}
    classes = [activations.BinaryCrossEntropyWithLogits, arith.Linear, conv.Conv2d, conv.ConvTranspose2d]
    originals = {cls: cls.backward for cls in classes}
    records, phase = [], ["D step"]

    def wrap(cls):
        def backward(self, g):
            name = cls.__name__
            weight = self.inputs[1] if name != "BinaryCrossEntropyWithLogits" else None
            saved = ", ".join([f"self.{a} {_shape_or_none(getattr(self, a))}" for a in saved_attrs[name]]
                              + [f"inputs[0] {_shape_or_none(self.inputs[0])}"])
            needs = "".join("T" if n else "F" for n in self.needs_input_grad)
            grads = originals[cls](self, g)
            grads = grads if isinstance(grads, tuple) else (grads,)
            returned = ", ".join(_shape_or_none(x) for x in grads)
            records.append((phase[0], f"{name}.backward", "" if weight is None else _shape_or_none(weight),
                            str(tuple(g.shape)),
                            saved, needs, returned))
            return grads if len(grads) > 1 else grads[0]
        return backward

    adam_step = optim.Adam.step

    def step(self):
        records.append((phase[0], "Adam.step", "", "", f"{len(self.params)} parameter tensors", "", ""))
        return adam_step(self)

    try:
        for cls in classes:
            cls.backward = wrap(cls)
        optim.Adam.step = step
        mg.set_backend("numpy")
        mg.manual_seed(0)
        G, D = build({"name": "dcgan", "latent_dim": 128, "kernel_size": 4})
        opt_G = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_D = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        config = TrainConfig(latent_dim=128, batch_size=batch)
        d_step(G, D, opt_D, mg.randn(batch, 3, 32, 32), None, config)
        phase[0] = "G step"
        g_step(G, D, opt_G, batch, None, config)
    finally:
        for cls in classes:
            cls.backward = originals[cls]
        optim.Adam.step = adam_step
    merged = []
    for r in records:
        for m in merged:
            if m[0] == r:
                m[1] += 1
                break
        else:
            merged.append([r, 1])
    return [(*r, n) for r, n in merged]


def debug_shapes_table(batch=64):
    lines = ["| step | backward of | weight | `g` (upstream gradient) | reads besides g | needs_input_grad | "
             "returns (input, weight, bias) | times |",
             "|---|---|---|---|---|---|---|---:|"]
    for phase, op, weight, g, saved, needs, returned, n in debug_shapes_rows(batch):
        cells = [phase, f"`{op}`", weight, g, saved, needs, returned, str(n)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLES = ["gan_generator", "gan_discriminator", "dcgan_generator", "dcgan_discriminator",
          "dcgan_k5_generator", "dcgan_k5_discriminator", "dcgan64_generator", "dcgan64_discriminator",
          "cgan_generator", "cgan_discriminator"]


def architecture_table(name):
    """The Markdown table of one model (what goes between the table markers)."""
    if name == "debug_shapes":
        return debug_shapes_table()
    rows, total = architecture_rows(name)
    lines = ["| layer | module | output shape | parameters |", "|---|---|---|---:|"]
    for layer, module, shape, params in rows:
        lines.append(f"| `{layer}` | `{module}` | {shape} | {params:,} |")
    lines.append(f"| | **total** | | **{total:,}** |")
    return "\n".join(lines)


def table_markers(name):
    return f"<!-- table:{name}:BEGIN -->", f"<!-- table:{name}:END -->"


def tables_in(text):
    """{table name: current text between its markers} of one page."""
    found = {}
    for m in re.finditer(r"<!-- table:([\w-]+):BEGIN -->\n(.*?)\n?<!-- table:\1:END -->", text, re.S):
        found[m.group(1)] = m.group(2).strip("\n")
    return found


def refresh_tables(pages=None):
    """Write every generated table into the pages that hold its markers."""
    cache = {}
    for path in pages or sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        new_text = text
        for name in tables_in(text):
            if name not in cache:
                cache[name] = architecture_table(name)
            begin, end = table_markers(name)
            new_text = re.sub(re.escape(begin) + r".*?" + re.escape(end),
                              lambda _m: f"{begin}\n{cache[name]}\n{end}", new_text, flags=re.S)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            print(f"  updated tables in {path.relative_to(ROOT)}")


# ====================================================================================================
# A recorded debugger session (reading-guide.md)
# ====================================================================================================
PDB_COMMANDS = [
    "!from minigan.training import d_loss, g_step",
    "!from minigan.ops import conv",
    "b d_loss",
    "b conv.Conv2d.backward, self.inputs[0].shape[1] == 3",
    "b conv.ConvTranspose2d.backward, g.shape[1] == 3",
    "c",
    "p real.shape",
    "until {line_after_fake}",
    "p z.shape, fake.shape, fake.requires_grad, fake.creator",
    "c",
    "p g.shape, self.cols.shape, self.inputs[1].shape, self.needs_input_grad",
    "disable 1",
    "c",
    "c",
    "p g.shape, self.needs_input_grad",
    "c",
    "p g.shape, self.inputs[0].shape, self.inputs[1].shape",
    "w",
    "q",
]


def debug_script(text):
    """The python block of reading-guide.md that starts with ``# debug_dcgan.py``."""
    for block in code_blocks(text):
        if block.lang == "python" and block.lines and block.lines[0].startswith("# debug_dcgan.py"):
            return block.code
    raise KeyError("no python block starting with '# debug_dcgan.py' in reading-guide.md")


def record_pdb_session(script, commands=PDB_COMMANDS):
    """Run ``python -m pdb`` on the script with the commands on stdin; the transcript with commands shown."""
    import inspect
    import tempfile

    from minigan import training

    source, first = inspect.getsourcelines(training.d_loss)
    after_fake = next(first + i for i, line in enumerate(source) if "logits_real = D(" in line)
    commands = [c.format(line_after_fake=after_fake) for c in commands]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "debug_dcgan.py").write_text(script)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy"}
        result = subprocess.run([sys.executable, "-m", "pdb", "debug_dcgan.py"], cwd=tmp, env=env,
                                input="\n".join(commands) + "\n", capture_output=True, text=True, timeout=300)
        out = result.stdout.replace(str(ROOT) + os.sep, "").replace(tmp + os.sep, "")
    parts = out.split("(Pdb) ")
    lines = [parts[0].rstrip("\n")]
    for command, answer in zip(commands, parts[1:]):   # pdb does not echo piped commands: put them back
        lines.append(f"(Pdb) {command}")
        kept = [line for line in answer.rstrip("\n").split("\n")
                if line and "bdb.py" not in line and "exec(cmd, globals, locals)" not in line
                and "<string>(1)<module>()" not in line]
        lines.extend(kept)
    return "\n".join(lines)


def refresh_transcript(pages=None):
    """Re-record the debugger session shown in reading-guide.md (about 10 s: batch 64)."""
    path = DOCS / "reading-guide.md"
    text = path.read_text(encoding="utf-8")
    begin, end = "<!-- transcript:debug_dcgan:BEGIN -->", "<!-- transcript:debug_dcgan:END -->"
    if begin not in text:
        print("  no transcript markers in reading-guide.md")
        return
    transcript = record_pdb_session(debug_script(text))
    new = re.sub(re.escape(begin) + r".*?" + re.escape(end),
                 lambda _m: f"{begin}\n```text\n{transcript}\n```\n{end}", text, flags=re.S)
    if new != text:
        path.write_text(new, encoding="utf-8")
        print("  updated the debugger transcript in docs/reading-guide.md")


# ====================================================================================================
# Drawing helpers
# ====================================================================================================
def pyplot():
    from minigan.run.viz import _pyplot

    return _pyplot()


def save(fig, name, dpi=90, palette=True):
    """Write a figure as a small PNG: RGB without alpha, and (for diagrams) a 256-colour palette."""
    from PIL import Image

    path = IMAGES / name
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[:, :, :3]             # (H, W, 3) uint8, alpha dropped
    pyplot().close(fig)
    image = Image.fromarray(rgb)
    if palette:
        image = image.quantize(colors=256)                           # diagrams: few colours, exact enough
    image.save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES and not palette:                             # a photo-like grid: 256 colours then
        image.quantize(colors=256).save(path, optimize=True)
        size = path.stat().st_size
    if size > MAX_BYTES:
        raise AssertionError(f"{path} is {size:,} bytes, over the {MAX_BYTES:,} limit")
    print(f"  wrote {_show(path)} ({size // 1000} KB)")


def _show(path):
    """A path relative to the repository root when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# colours of the cells of a grid: what each value is
KIND_COLORS = {
    "input": "#9ecae1",     # a value of the input
    "inserted": "#fdd0a2",  # a zero inserted between input pixels (z = s - 1)
    "pad": "#eeeeee",       # a zero of the padding p'
    "kernel": "#c7e9c0",    # a kernel weight
    "out": "#fcbba1",       # a value of the output
    "crop": "#ffffff",      # cropped away
    "zero": "#ffffff",      # an untouched zero
    "blank": "#ffffff",     # not part of this picture (no number drawn)
    # the four phases of a k=4, s=2 transposed convolution (fig_subpixel), by (row phase, column phase)
    "phase00": "#fcbba1", "phase01": "#c7e9c0", "phase10": "#9ecae1", "phase11": "#dadaeb",
}


def draw_grid(ax, values, kinds, title, box=None, canvas=5, fmt="{:g}"):
    """A grid of numbers, each cell coloured by its kind; ``box`` = (row, col, height, width) in red.

    ``canvas`` cells fit across the panel, so that cells have the same size in every panel.
    """
    from matplotlib.patches import Rectangle

    values = np.asarray(values)
    h, w = values.shape
    for i in range(h):
        for j in range(w):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fc=KIND_COLORS[kinds[i][j]], ec="0.35", lw=0.8))
            if kinds[i][j] == "blank":
                continue
            ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=10,
                    color="0.55" if kinds[i][j] in ("pad", "inserted", "crop") else "black")
    if box is not None:
        r, c, bh, bw = box
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), bw, bh, fill=False, ec="crimson", lw=2.5))
    ax.set_xlim(-0.6, max(canvas, w) - 0.4)
    ax.set_ylim(max(canvas, h) - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def as_grid(t):
    """A (1, 1, H, W) tensor -> (H, W) numpy array."""
    return t.numpy()[0, 0]


def seed_example():
    """The seed's worked example: input [[0, 1], [2, 3]] and kernel [[0, 1], [2, 3]], as (1, 1, 2, 2)."""
    x = mg.tensor([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    w = mg.tensor([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    return x, w


# ====================================================================================================
# The figures
# ====================================================================================================
def fig_dilate():
    """Transposed conv, definition 2 ("Kiểu 2"): insert zeros, pad, slide the flipped kernel."""
    plt = pyplot()
    x, w = seed_example()
    s, k = 2, 2
    fig, axes = plt.subplots(2, 5, figsize=(13, 5.6))
    for row, p in enumerate((0, 1)):
        p_prime = k - p - 1
        dilated = F.dilate2d(x, s)                                   # (1, 1, 3, 3)
        padded = F.pad2d(dilated, p_prime, p_prime, p_prime, p_prime)
        flipped = w[:, :, ::-1, ::-1]                                # rotated by 180 degrees
        out = F.conv2d(padded, flipped)                              # stride 1
        for method in ("scatter", "dilate"):
            same = F.conv_transpose2d(x, w, stride=s, padding=p, method=method)
            assert np.array_equal(same.numpy(), out.numpy()), method
        d, pd, o = as_grid(dilated), as_grid(padded), as_grid(out)
        dil_kinds = [["input" if i % s == 0 and j % s == 0 else "inserted" for j in range(d.shape[1])]
                     for i in range(d.shape[0])]
        pad_kinds = [["pad"] * pd.shape[1] for _ in range(pd.shape[0])]
        for i in range(d.shape[0]):
            for j in range(d.shape[1]):
                pad_kinds[i + p_prime][j + p_prime] = dil_kinds[i][j]
        # highlight the window that makes one non-zero output pixel, and write out its sum
        r, c = (1, 2) if p == 0 else (0, 1)
        window, kernel = pd[r:r + k, c:c + k], as_grid(flipped)
        terms = " + ".join(f"{a:g}·{b:g}" for a, b in zip(window.ravel(), kernel.ravel()))
        assert (window * kernel).sum() == o[r, c]
        draw_grid(axes[row, 0], as_grid(x), [["input"] * 2] * 2, f"input x (2x2)\ns={s}, p={p}, k={k}")
        draw_grid(axes[row, 1], d, dil_kinds,
                  f"1. insert z = s-1 = {s - 1} zero\nbetween pixels: {d.shape[0]}x{d.shape[1]}")
        draw_grid(axes[row, 2], pd, pad_kinds,
                  f"2. pad p' = k-p-1 = {p_prime}\non every side: {pd.shape[0]}x{pd.shape[1]}", box=(r, c, k, k))
        draw_grid(axes[row, 3], kernel, [["kernel"] * 2] * 2,
                  "3. kernel rotated 180°\n[[0,1],[2,3]] -> [[3,2],[1,0]]")
        out_kinds = [["out"] * o.shape[1] for _ in range(o.shape[0])]
        draw_grid(axes[row, 4], o, out_kinds, f"4. stride-1 conv2d: output {o.shape[0]}x{o.shape[1]}\n"
                  f"y[{r},{c}] = {terms} = {o[r, c]:g}", box=(r, c, 1, 1))
    fig.suptitle("Transposed convolution, definition 2 (Kiểu 2, method=\"dilate\"): insert zeros, pad, "
                 "convolve with the flipped kernel\nred box: the window that makes one output pixel",
                 fontsize=10)
    fig.tight_layout(h_pad=2.5)
    save(fig, "transposed_conv_dilate.png")


def fig_scatter():
    """Transposed conv, definition 1 ("Kiểu 1"): each input pixel scatters value * kernel; sum; crop."""
    plt = pyplot()
    x, w = seed_example()
    k = 2
    fig, axes = plt.subplots(2, 7, figsize=(15, 4.6))
    for row, (s, p) in enumerate(((2, 1), (1, 0))):
        full = F.conv_transpose2d(x, w, stride=s, padding=0)         # before the crop
        size = full.shape[2]
        total = np.zeros((size, size))
        draw_grid(axes[row, 0], as_grid(x), [["input"] * 2] * 2, f"input x\ns={s}, p={p}", canvas=4)
        for idx, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            one = np.zeros((1, 1, 2, 2), dtype=np.float32)
            one[0, 0, i, j] = x.numpy()[0, 0, i, j]
            copy = as_grid(F.conv_transpose2d(mg.tensor(one), w, stride=s))   # value * kernel, placed
            total += copy
            kinds = [["zero"] * size for _ in range(size)]
            for a in range(k):
                for b in range(k):
                    kinds[i * s + a][j * s + b] = "out"
            draw_grid(axes[row, 1 + idx], copy, kinds,
                      f"x[{i},{j}] = {x.numpy()[0, 0, i, j]:g} times kernel\nat ({i}*s, {j}*s) = ({i * s}, {j * s})",
                      box=(i * s, j * s, k, k), canvas=4)
        assert np.array_equal(total, as_grid(full))
        draw_grid(axes[row, 5], total, [["out"] * size for _ in range(size)],
                  "sum of the copies\n" + ("(overlaps add up)" if s == 1 else "(k = s: they just tile)"), canvas=4)
        y = F.conv_transpose2d(x, w, stride=s, padding=p)
        for method in ("scatter", "dilate"):
            assert np.array_equal(F.conv_transpose2d(x, w, stride=s, padding=p, method=method).numpy(), y.numpy())
        crop_kinds = [["crop"] * size for _ in range(size)]
        for a in range(p, size - p):
            for b in range(p, size - p):
                crop_kinds[a][b] = "out"
        draw_grid(axes[row, 6], total, crop_kinds,
                  f"crop p={p} from each side:\noutput {y.shape[2]}x{y.shape[3]}" if p else "p=0: nothing to crop\n"
                  f"output {y.shape[2]}x{y.shape[3]}", box=(p, p, size - 2 * p, size - 2 * p) if p else None, canvas=4)
    fig.suptitle("Transposed convolution, definition 1 (Kiểu 1, method=\"scatter\"): every input pixel adds "
                 "value x kernel into the output at stride steps, then p is cropped\n"
                 "top: the seed's example with s=2, p=1;  bottom: s=1, p=0, where the copies overlap",
                 fontsize=10)
    fig.tight_layout()
    save(fig, "transposed_conv_scatter.png")


def _plus(name, offset):
    """'q-1', 'q', 'q+1': an index written as in the text."""
    return name if offset == 0 else f"{name}{offset:+d}"


def fig_subpixel():
    """Transposed conv, definition 3 ("subpixel"): k=4, s=2, p=1 as four stride-1 convs, interleaved."""
    from minigan.ops.conv_subpixel import subpixel_phases

    plt = pyplot()
    k, s, p = 4, 2, 1
    x = mg.tensor(np.arange(1.0, 10.0).reshape(1, 1, 3, 3))          # input 3x3: 1 .. 9
    w = mg.tensor(np.arange(16.0).reshape(1, 1, 4, 4))               # kernel 4x4: 0 .. 15
    y = F.conv_transpose2d(x, w, stride=s, padding=p, method="subpixel")   # (1, 1, 6, 6)
    for method in ("scatter", "dilate"):
        assert np.array_equal(F.conv_transpose2d(x, w, stride=s, padding=p, method=method).numpy(), y.numpy())
    size = y.shape[2]
    phases = subpixel_phases(size, k, s, p)                          # [(phase, r, taps, start, outputs)]
    fig, axes = plt.subplots(2, 5, figsize=(14, 6.4))
    tap_kinds = [["kernel"] * k for _ in range(k)]
    for ph, r_h, _, _, _ in phases:
        for pw, r_w, _, _, _ in phases:
            for a in range(r_h, k, s):
                for b in range(r_w, k, s):
                    tap_kinds[a][b] = f"phase{ph}{pw}"
    draw_grid(axes[0, 0], as_grid(w), tap_kinds, "kernel W (4x4), each tap coloured\nby the output phase it feeds")
    draw_grid(axes[1, 0], as_grid(x), [["input"] * 3] * 3,
              f"input x (3x3)\nk={k}, s={s}, p={p}: output {size}x{size}", canvas=6)
    assembled = np.zeros((size, size))
    col, q_col = 1, "q'"                                             # q: the output row index, q': column
    for ph, r_h, _, start_h, q_h in phases:
        for pw, r_w, _, start_w, q_w in phases:
            kind = f"phase{ph}{pw}"
            sub = w[:, :, r_h::s, r_w::s][:, :, ::-1, ::-1]            # the 2x2 sub-kernel, flipped
            # a stride-1 conv2d with padding 1 reads input rows i-1, i for its output i; output q of the
            # phase reads rows q + start, q + start + 1: that is output q + start + 1 of this conv2d
            conv = as_grid(F.conv2d(x, sub, padding=1))                 # (4, 4)
            part = conv[start_h + 1:start_h + 1 + q_h, start_w + 1:start_w + 1 + q_w]   # (3, 3)
            assert np.array_equal(part, as_grid(y)[ph::s, pw::s])
            assembled[ph::s, pw::s] = part                              # interleave
            rows = ", ".join(str(a) for a in range(r_h, k, s)[::-1])
            cols = ", ".join(str(b) for b in range(r_w, k, s)[::-1])
            draw_grid(axes[0, col], as_grid(sub), [[kind] * 2] * 2,
                      f"phase ({ph}, {pw}): W[{r_h}::2, {r_w}::2] flipped\n= kernel rows {rows}, cols {cols}")
            kinds = [["blank"] * size for _ in range(size)]
            for i in range(ph, size, s):
                for j in range(pw, size, s):
                    kinds[i][j] = kind
            draw_grid(axes[1, col], assembled, kinds,
                      f"y[2q+{ph}, 2q'+{pw}] reads x rows {_plus('q', start_h)}, {_plus('q', start_h + 1)}\n"
                      f"and columns {_plus(q_col, start_w)}, {_plus(q_col, start_w + 1)}", canvas=6)
            col += 1
    assert np.array_equal(assembled, as_grid(y))
    fig.suptitle("Transposed convolution, definition 3 (method=\"subpixel\"): a stride-2 transposed conv is four "
                 "stride-1 convolutions with flipped 2x2 sub-kernels,\nwritten into the output pixels of their "
                 "phase: pixel (2q+i, 2q'+j) belongs to phase (i, j). Bottom row: each phase's 9 outputs in their place "
                 "in the 6x6 output", fontsize=10)
    fig.tight_layout(h_pad=2.0)
    save(fig, "transposed_conv_subpixel.png")


def fig_checkerboard():
    """How many kernel taps reach each output pixel: convT of all-ones input with an all-ones kernel."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, (k, p, op) in zip(axes, ((3, 1, 1), (4, 1, 0))):
        taps = F.conv_transpose2d(mg.ones(1, 1, 6, 6), mg.ones(1, 1, k, k), stride=2, padding=p,
                                  output_padding=op)                  # (1, 1, 12, 12)
        t = as_grid(taps)
        ax.imshow(t, cmap="Blues", vmin=0, vmax=5, interpolation="nearest")
        for i in range(t.shape[0]):
            for j in range(t.shape[1]):
                ax.text(j, i, f"{t[i, j]:g}", ha="center", va="center", fontsize=8,
                        color="white" if t[i, j] >= 3 else "black")
        ax.set_xticks([])
        ax.set_yticks([])
        verdict = "k divisible by s: even overlap" if k % 2 == 0 else "k NOT divisible by s: checkerboard"
        ax.set_title(f"k={k}, s=2, p={p}, output_padding={op}: 6x6 -> {t.shape[0]}x{t.shape[1]}\n{verdict}",
                     fontsize=10)
    fig.suptitle("Kernel taps per output pixel = conv_transpose2d(ones input, ones kernel)", fontsize=11)
    fig.tight_layout()
    save(fig, "checkerboard.png")


def _short(module):
    """A short label for a layer of the shape picture: 'ConvT k4 s2 p1', 'BN', 'LeakyReLU', ..."""
    kind = module.split("(")[0]
    if kind in ("Conv2d", "ConvTranspose2d"):
        k, s, p = (re.search(rf"{key}=(\d+)", module).group(1) for key in ("kernel_size", "stride", "padding"))
        return f"{'ConvT' if kind == 'ConvTranspose2d' else 'Conv'} k{k} s{s} p{p}"
    return {"BatchNorm2d": "BN", "Reshape": "reshape", "Flatten": "flatten"}.get(kind, kind)


def fig_dcgan_shapes():
    """The DCGAN shape pyramid: G and D as boxes, sized by their tensor shapes (from the model code)."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(12, 6.6))
    for ax, name, title in ((axes[0], "dcgan_generator", "Generator G: noise z -> image"),
                            (axes[1], "dcgan_discriminator", "Discriminator D: image -> one logit")):
        rows, total = architecture_rows(name)
        # one box per stage: a stage starts at the input or at a layer with weights (or Flatten);
        # the layers after it (BN, activation, reshape) are added to its label and give its shape
        stages = []
        for layer, module, shape, _ in rows:
            kind = module.split("(")[0]
            dims = tuple(int(v) for v in shape.strip("()").split(", ")[1:])
            if layer == "input" or kind in ("Linear", "Conv2d", "ConvTranspose2d", "Flatten"):
                stages.append(["input" if layer == "input" else _short(module), dims])
            else:
                stages[-1][0] += "\n+ " + _short(module)
                stages[-1][1] = dims
        x = 0.0
        for i, (label, dims) in enumerate(stages):
            if len(dims) == 3:                       # (C, H, W): width grows with C, height with H
                c, h, _ = dims
                width, height = 0.25 + 0.45 * np.log2(c) / 9, 0.2 + 2.6 * h / 32
                text = f"{c}x{h}x{h}"
            else:                                    # a vector: a thin bar, height grows with log(length)
                width, height = 0.18, 0.2 + 2.6 * np.log2(dims[0]) / 11
                text = f"{dims[0]}"
            ax.add_patch(Rectangle((x, -height / 2), width, height, ec="0.3",
                                   fc="#9ecae1" if len(dims) == 3 else "#fdd0a2"))
            ax.text(x + width / 2, 1.55, text, ha="center", va="bottom", fontsize=9)
            ax.text(x + width / 2, -1.55, label, ha="center", va="top", fontsize=7.5, color="0.3")
            if i + 1 < len(stages):
                ax.add_patch(FancyArrowPatch((x + width + 0.05, 0), (x + width + 0.55, 0),
                                             arrowstyle="->", mutation_scale=12, color="0.4"))
            x += width + 0.6
        ax.set_xlim(-0.3, x)
        ax.set_ylim(-2.6, 1.9)
        ax.axis("off")
        ax.set_title(f"{title}  ({total:,} parameters; boxes: channels x height x width)", fontsize=10)
    fig.suptitle("DCGAN for CIFAR-10 (minigan/models/dcgan.py): stride-2 layers double (G) or halve (D) "
                 "the image", fontsize=11)
    fig.tight_layout()
    save(fig, "dcgan_shapes.png")


def graph_example():
    """The example of docs/autograd.md, "A picture of the graph": the loss of a tiny discriminator."""
    mg.manual_seed(0)
    D = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))
    x = mg.randn(8, 3)                                               # 8 "images" of 3 numbers
    loss = F.binary_cross_entropy_with_logits(D(x), mg.ones(8, 1))  # D says "real" to all of them?
    return loss, dict(D.named_parameters())


def fig_graph():
    """autograd_graph.svg: mg.draw_graph of graph_example() (needs Graphviz's `dot`)."""
    loss, names = graph_example()
    path = mg.draw_graph(loss, IMAGES / "autograd_graph.svg", names=names)
    print(f"  wrote {_show(path)} ({path.stat().st_size // 1000} KB)")


def fig_toy2d():
    """The toy GAN on a ring of 8 Gaussians: run examples/gan_toy2d.py into docs/images."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy"}
    subprocess.run([sys.executable, str(ROOT / "examples" / "gan_toy2d.py"), "--out", str(IMAGES)],
                   cwd=ROOT, env=env, check=True)
    size = (IMAGES / "toy2d.png").stat().st_size
    if size > MAX_BYTES:
        raise AssertionError(f"toy2d.png is {size:,} bytes, over the limit")
    print(f"  wrote docs/images/toy2d.png ({size // 1000} KB) in {time.perf_counter() - start:.0f} s")


RUN_NAMES = ["dcgan_cifar", "dcgan_gpu", "cgan_fashion_mnist", "cgan_cpu", "gan_fashion_mnist",
             "own_images_dcgan32", "own_images_dcgan64",         # docs/own-images.md
             "dcgan_bce_cpu", "dcgan_wgan_gp_cpu"]           # the last two: benchmarks/cpu_wgan_vs_bce.sh


def _last_epoch_record(log_path):
    last = None
    with open(log_path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r.get("event") == "epoch_end":
                    last = r
    return last


def plot_run_curves(name, records, window=50):
    """Losses and D outputs of a run: minigan.run.viz.curves_figure, saved small."""
    from minigan.run.viz import curves_figure

    save(curves_figure(records, window, title=f"runs/{name}: "), f"run_{name}_curves.png", dpi=90)


def fig_runs():
    """Training curves and sample grids of the real runs in runs/<name>/ (skipped when absent)."""
    from minigan.run.viz import read_log

    plt = pyplot()
    for name in RUN_NAMES:
        folder = RUNS / name
        log = folder / "log.jsonl"
        if not log.exists():
            print(f"  skipped {name}: {os.path.relpath(log, ROOT)} not found (train it first)")
            continue
        records = read_log(log)
        if not records:
            print(f"  skipped {name}: no iterations logged yet")
            continue
        plot_run_curves(name, records)
        epochs = sorted(folder.glob("samples_epoch*.png"))
        grid = epochs[-1] if epochs else folder / "samples_latest.png"
        if not grid.exists():
            continue
        picture = plt.imread(grid)[::2, ::2]           # viz.save_image_grid enlarged each pixel 2x: undo it
        if picture.shape[0] > 400:                     # 64x64 samples: the first 4 rows keep it < 200 KB
            picture = picture[:picture.shape[0] // 2]
        last = _last_epoch_record(log)
        where = (f"after epoch {int(grid.stem[-3:])}" if epochs else
                 f"at iteration {records[-1]['iteration']} (epoch {records[-1]['epoch'] + 1}, in progress)")
        fig = plt.figure(figsize=(picture.shape[1] / 100, picture.shape[0] / 100 + 0.4))
        ax = fig.add_axes([0, 0, 1, picture.shape[0] / (picture.shape[0] + 40)])
        ax.imshow(picture, interpolation="nearest")
        ax.axis("off")
        seconds = f", {last['seconds']:.0f} s/epoch" if last and "seconds" in last else ""
        fig.suptitle(f"runs/{name}/{grid.name}\nsamples {where}{seconds}", fontsize=7, y=0.995)
        save(fig, f"run_{name}_samples.png", dpi=100, palette=False)


def fig_wgan_vs_bce():
    """The two CIFAR-10 generators of benchmarks/cpu_wgan_vs_bce.sh side by side, from their final
    checkpoints: each run's own 64 fixed noise vectors, G in training mode as in the runs' sample grids."""
    from minigan import training
    from minigan.run import training_state
    from minigan.run.checkpoint import load_checkpoint
    from minigan.run.viz import image_grid

    runs = [("dcgan_bce_cpu", "BCE (DCGAN)"), ("dcgan_wgan_gp_cpu", "WGAN-GP (layer-norm critic)")]
    paths = [RUNS / name / "checkpoint.npz" for name, _ in runs]
    if not all(p.exists() for p in paths):
        print(f"  skipped: {', '.join(os.path.relpath(p, ROOT) for p in paths)} not all found")
        return
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(2 * 2.9, 3.25))
    for ax, (name, label), path in zip(axes, runs, paths):
        G, _, meta = training_state.load_generator(path)
        G.train()                                                    # batch statistics, as in the runs' grids
        noise = mg.Tensor(backend.to_device(load_checkpoint(path)[0]["fixed/noise"]))
        ax.imshow(image_grid(training.generate(G, noise), nrow=8), interpolation="nearest")
        ax.set_title(f"{label}\n{meta['iteration']} G steps, "
                     f"{meta['iteration'] * meta['config']['d_steps']} D steps", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    save(fig, "wgan_vs_bce_samples.png", dpi=100, palette=False)


FIGURES = {
    "dilate": (fig_dilate, "transposed_conv_dilate.png: definition 2 (Kiểu 2) step by step"),
    "scatter": (fig_scatter, "transposed_conv_scatter.png: definition 1 (Kiểu 1), copies summed and cropped"),
    "subpixel": (fig_subpixel, "transposed_conv_subpixel.png: definition 3, the four phases of k=4, s=2"),
    "checkerboard": (fig_checkerboard, "checkerboard.png: kernel taps per output pixel, k=3 vs k=4 at s=2"),
    "dcgan_shapes": (fig_dcgan_shapes, "dcgan_shapes.png: the DCGAN shape pyramid of G and D"),
    "graph": (fig_graph, "autograd_graph.svg: mg.draw_graph of a tiny discriminator's loss (needs Graphviz)"),
    "toy2d": (fig_toy2d, "toy2d.png: the toy GAN of examples/gan_toy2d.py (under a minute on a quiet CPU)"),
    "runs": (fig_runs, "run_<name>_curves.png / run_<name>_samples.png from runs/<name>/ when present"),
    "wgan_vs_bce": (fig_wgan_vs_bce, "wgan_vs_bce_samples.png: the two CIFAR-10 runs of cpu_wgan_vs_bce.sh (--runs)"),
    "tables": (refresh_tables, "the architecture tables between <!-- table:NAME --> markers in the pages"),
    "outputs": (refresh_outputs, "the ```text output under each ```python block of the pages"),
    "transcript": (refresh_transcript, "the recorded pdb session of reading-guide.md (one iteration at batch 64)"),
}


def main(argv=None):
    global RUNS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=list(FIGURES), metavar="NAME",
                        help="make only this one (repeat for several); see --list")
    parser.add_argument("--list", action="store_true", help="list the names and exit")
    parser.add_argument("--runs", default=None, help=f"folder of the runs for 'runs' (default: {RUNS})")
    args = parser.parse_args(argv)
    if args.runs:
        RUNS = Path(args.runs)
    if args.list:
        for name, (_, what) in FIGURES.items():
            print(f"{name:<14} {what}")
        return
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(FIGURES):
        print(f"{name}:")
        FIGURES[name][0]()


if __name__ == "__main__":
    main()
