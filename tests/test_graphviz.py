"""minigan/tools/graphviz.py: the DOT text of a graph (always tested), and its rendering (only where `dot` exists)."""

import re
import shutil

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.tools import graphviz

HAS_DOT = shutil.which("dot") is not None


def nodes_and_edges(text):
    nodes = dict(re.findall(r'^  (\w+) \[label="((?:[^"\\]|\\.)*)"', text, re.M))
    edges = re.findall(r"^  (\w+) -> (\w+);", text, re.M)
    return nodes, edges


def test_dot_text_has_every_op_and_tensor_with_shapes():
    x = mg.tensor([[1.0, 2.0, 3.0]], requires_grad=True, name="x")
    w = mg.tensor(np.ones((3, 2)), requires_grad=True, name="w")
    loss = ((x @ w) * 2).sum()
    text = mg.to_dot(loss)
    assert text.startswith("digraph minigan {") and text.rstrip().endswith("}")
    nodes, edges = nodes_and_edges(text)
    labels = sorted(nodes.values())
    assert labels == sorted(["() float32", "MatMul", "Mul", "Sum", "x\\n(1, 3) float32", "w\\n(3, 2) float32",
                             "(1, 2) float32", "(1, 2) float32", "() float32"])
    by_label = {}
    for node, label in nodes.items():
        by_label.setdefault(label, []).append(node)
    [matmul], [mul], [total] = by_label["MatMul"], by_label["Mul"], by_label["Sum"]
    assert (by_label["x\\n(1, 3) float32"][0], matmul) in edges and (by_label["w\\n(3, 2) float32"][0], matmul) in edges
    assert sum(1 for a, b in edges if b == mul) == 2                 # (x @ w) and the constant 2
    assert sum(1 for a, b in edges if a == total) == 1               # Sum -> loss
    assert len(edges) == 2 + 1 + 2 + 1 + 1 + 1                        # inputs->op and op->output, each op


def test_a_tensor_used_twice_gets_two_edges_and_constants_are_grey():
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    text = mg.to_dot(x * x + 1)
    nodes, edges = nodes_and_edges(text)
    [x_node] = [n for n, label in nodes.items() if label.startswith("x\\n")]
    [mul] = [n for n, label in nodes.items() if label == "Mul"]
    assert edges.count((x_node, mul)) == 2
    assert "fillcolor=lightgrey" in text and "fillcolor=orange" in text and "fillcolor=lightyellow" in text


def test_parameter_names_from_a_model_and_a_deep_graph_without_recursion():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    out = model(mg.randn(2, 4))
    text = mg.to_dot(out, names=dict(model.named_parameters()))
    for name in ("0.weight\\n(3, 4) float32", "0.bias\\n(3,) float32", "2.weight\\n(1, 3) float32"):
        assert f'"{name}"' in text
    h = mg.tensor(1.0, requires_grad=True)
    for _ in range(3000):                                            # deeper than Python's recursion limit
        h = h * 1.0
    assert mg.to_dot(h).count("Mul") == 3000


def test_after_backward_the_freed_graph_is_shown_as_freed():
    x = mg.tensor([1.0], requires_grad=True)
    y = (x * 3).sum()
    y.backward()
    text = mg.to_dot(y)
    assert "freed by backward()" in text and "style=dashed" in text and "Mul" not in text


def test_labels_are_escaped():
    x = mg.tensor([1.0], requires_grad=True, name='say "hi" \\ there')
    assert r'say \"hi\" \\ there' in mg.to_dot(x * 2)


def test_dot_path_writes_text_only(tmp_path):
    x = mg.tensor([1.0], requires_grad=True, name="x")
    path = mg.draw_graph(x * 2, tmp_path / "g.dot")
    assert path.read_text().startswith("digraph")


def test_without_dot_the_message_says_how_to_install_and_the_text_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(graphviz.shutil, "which", lambda name: None)
    x = mg.tensor([1.0], requires_grad=True, name="x")
    with pytest.raises(graphviz.GraphvizError, match=r"needs the Graphviz program `dot`.*apt-get install graphviz"):
        mg.draw_graph(x * 2, tmp_path / "g.svg")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.skipif(not HAS_DOT, reason="the Graphviz program `dot` is not installed")
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_rendering_with_dot(tmp_path, suffix, magic):
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    path = mg.draw_graph((x * x).sum(), tmp_path / f"g{suffix}")
    assert path.read_bytes().startswith(magic)
    assert not (tmp_path / "g.dot").exists()                         # the temporary text is removed
    if suffix == ".svg":
        assert "Mul" in path.read_text() and "Sum" in path.read_text()
