"""A picture of the autograd graph behind a tensor: DOT text, rendered by Graphviz's ``dot`` if present.

Reading order: tensor -> gradcheck -> **graphviz** (tools for learners; nothing else imports them).

``loss.backward()`` walks a graph that the forward pass recorded: every Tensor made by an op points to
its Function (``t.creator``), and the Function to its inputs (``fn.inputs``). This module walks the
same pointers, read-only, and writes the graph in Graphviz's DOT language (the idea of DeZero's
``plot_dot_graph``)::

    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * x).sum()
    print(mg.to_dot(y))                      # DOT text: ellipses are tensors, boxes are Functions
    mg.draw_graph(y, "graph.svg")            # the picture (needs the `dot` program); ".dot": text only

Tensors show their name (if any), shape and dtype: leaves that require grad (inputs, parameters) in
yellow, intermediate results in white, constants in grey, the tensor drawn from in orange. Functions show their class name. Pass
``names=dict(model.named_parameters())`` to label a model's parameters.

Draw *before* calling backward(): backward() frees the graph (``fn.inputs = None``), and the picture
then stops at the freed Function (drawn with a dashed border, labelled "freed by backward()").
"""

import os
import shutil
import subprocess
from pathlib import Path


class GraphvizError(RuntimeError):
    """The DOT text cannot be rendered: the Graphviz program ``dot`` is missing or failed."""


def to_dot(tensor, names=None, rankdir="LR"):
    """The DOT text of the graph that produced ``tensor`` (see the module docstring for the picture)."""
    label_of = {id(t): name for name, t in (names or {}).items()}
    ids = {}                                                         # id(object) -> "t0", "f1", ...
    lines = ["digraph minigan {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10];']

    def node_id(obj, prefix):
        if id(obj) not in ids:
            ids[id(obj)] = f"{prefix}{len(ids)}"
        return ids[id(obj)]

    def tensor_node(t):
        name = t.name or label_of.get(id(t))
        text = (f"{name}\n" if name else "") + f"{t.shape} {t.dtype}"
        if t is tensor:
            colour = "orange"                                        # the tensor drawn from
        elif not t.requires_grad:
            colour = "lightgrey"                                     # a constant: gets no gradient
        else:
            colour = "lightyellow" if t.creator is None else "white" # a leaf to train / an intermediate
        lines.append(f'  {node_id(t, "t")} [label={_quote(text)}, shape=ellipse, style=filled, fillcolor={colour}];')

    seen, stack = set(), [tensor]                                    # iterative: deep graphs are fine
    tensor_node(tensor)
    while stack:
        t = stack.pop()
        if id(t) in seen or t.creator is None:
            seen.add(id(t))
            continue
        seen.add(id(t))
        fn = t.creator
        fid = node_id(fn, "f")
        freed = fn.inputs is None
        label = type(fn).__name__ + ("\n(freed by backward())" if freed else "")
        lines.append(f"  {fid} [label={_quote(label)}, shape=box"
                     + (", style=dashed];" if freed else ', style=filled, fillcolor="lightblue"];'))
        lines.append(f"  {fid} -> {ids[id(t)]};")
        for parent in ([] if freed else fn.inputs):
            if id(parent) not in ids:
                tensor_node(parent)
                stack.append(parent)
            lines.append(f"  {ids[id(parent)]} -> {fid};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw_graph(tensor, path, names=None, rankdir="LR"):
    """Write the graph behind ``tensor`` to ``path``: DOT text for ".dot", else a picture made by ``dot``.

    The format comes from the suffix (".svg", ".png", ".pdf", ...). Without the Graphviz program the
    DOT text is still written (next to ``path``, as ``<name>.dot``) and GraphvizError says how to
    install it. Returns the path written.
    """
    path = Path(path)
    text = to_dot(tensor, names, rankdir)
    if path.suffix.lower() in (".dot", ".gv", ""):
        path.write_text(text)
        return path
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(text)
    program = shutil.which("dot")
    if program is None:
        raise GraphvizError(
            f"drawing {path} needs the Graphviz program `dot`, which is not on PATH. Install Graphviz "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; conda: conda install "
            f"graphviz), or render the DOT text written to {dot_path} elsewhere (any Graphviz viewer).")
    fmt = path.suffix.lower().lstrip(".")
    result = subprocess.run([program, f"-T{fmt}", os.fspath(dot_path), "-o", os.fspath(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise GraphvizError(f"`dot -T{fmt}` could not draw {path} (exit code {result.returncode}): "
                            f"{result.stderr.strip()}; the DOT text is in {dot_path}")
    dot_path.unlink()
    return path


def _quote(text):
    """A DOT string literal: quotes and backslashes escaped, newlines as DOT's centred line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
