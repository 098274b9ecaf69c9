"""The benchmark scripts' own logic (no timing): which frameworks they accept and the ratios they print.

The timings themselves are measurements, recorded in docs/benchmarks.md; what can be checked without
running them is that the table divides the right medians by each other.
"""

import sys
from argparse import Namespace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_dcgan_step as bench  # noqa: E402


def args_for(model="dcgan", pairs=("minigan:numpy", "torch:cpu", "chainer:cpu"), batch_sizes=(64,)):
    return Namespace(model=model, framework_pairs=list(pairs), framework=None, backend="numpy",
                     device="cpu", batch_sizes=list(batch_sizes), flops="reference")


def trial(times, **extra):
    return {"times": list(times), "peak_rss_mib": 100.0, "version": "x", **extra}


def test_pairs_accept_chainer_and_dezero_for_the_dcgan_only():
    assert bench.parse_pairs(args_for(pairs=["minigan:numpy", "chainer:cpu,dezero:cpu"])) == [
        ("minigan", "numpy"), ("chainer", "cpu"), ("dezero", "cpu")]
    with pytest.raises(SystemExit, match="DCGAN only"):
        bench.parse_pairs(args_for(model="cgan", pairs=["minigan:numpy", "dezero:cpu"]))
    with pytest.raises(SystemExit, match="bad framework pair 'chainer:cuda'"):
        bench.parse_pairs(args_for(pairs=["chainer:cuda"]))


def test_python_option_names_a_framework_and_an_existing_interpreter(tmp_path):
    assert bench.parse_pythons([f"dezero={sys.executable}"]) == {"dezero": sys.executable}
    with pytest.raises(SystemExit, match="use FW=INTERPRETER"):
        bench.parse_pythons(["keras=/usr/bin/python3"])
    with pytest.raises(SystemExit, match="no such interpreter"):
        bench.parse_pythons([f"chainer={tmp_path / 'missing'}"])


def test_env_option_sets_or_unsets_a_variable_for_one_framework():
    assert bench.parse_envs(["chainer:OPENBLAS_CORETYPE=SkylakeX", "minigan:OPENBLAS_CORETYPE="]) == {
        "chainer": {"OPENBLAS_CORETYPE": "SkylakeX"}, "minigan": {"OPENBLAS_CORETYPE": ""}}
    for bad in ["OPENBLAS_CORETYPE=SkylakeX", "keras:A=1", "chainer:NOVALUE"]:
        with pytest.raises(SystemExit, match="use FW:NAME=VALUE"):
            bench.parse_envs([bad])


def test_run_child_applies_the_environment_changes(tmp_path, monkeypatch):
    """A child sees the variables set for it, and not those unset for it."""
    import common
    script = tmp_path / "child.py"
    script.write_text("import json, os, sys\n"
                      "print('BENCH_RESULT ' + json.dumps({'a': os.environ.get('MG_A'), 'b': os.environ.get('MG_B')}))\n")
    monkeypatch.setenv("MG_B", "inherited")
    assert common.run_child(script, {}, env_changes={"MG_A": "set"})["a"] == "set"
    assert common.run_child(script, {})["b"] == "inherited"
    assert common.run_child(script, {}, env_changes={"MG_B": ""})["b"] is None


def test_blas_kernel_names_the_kernels_openblas_loaded():
    """What the tables print: OpenBLAS's own name for its kernels (None without OpenBLAS)."""
    import common
    import numpy as np
    kernel = common.blas_kernel()
    if "openblas" not in common.blas_name().lower():
        assert kernel is None
        return
    assert isinstance(kernel, str) and kernel
    np.ones((2, 2), dtype=np.float32) @ np.ones((2, 2), dtype=np.float32)
    info = common.describe_machine()
    assert f"{kernel} kernels" in common.machine_lines(info)[2]


def test_ab_fresh_times_every_tree_in_a_fresh_process(tmp_path):
    """Two copies of this tree, 1 round of 1 iteration at batch 4: both time, ratios to the first."""
    import subprocess
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "ab_fresh.py"), str(root), str(root),
                          "--batch", "4", "--rounds", "1", "--iters", "1", "--json", str(tmp_path / "t.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "ratio to the first 1.000" in out.stdout
    bad = subprocess.run([sys.executable, str(root / "benchmarks" / "ab_fresh.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "is not a minigan source tree" in bad.stderr


def test_table_divides_minigan_by_each_other_framework():
    args = args_for()
    pairs = bench.parse_pairs(args)
    trials = {("minigan", "numpy", 64): [trial([0.4, 0.5, 0.6])],               # median 0.5
              ("torch", "cpu", 64): [trial([0.25], threads=2)],
              ("chainer", "cpu", 64): [trial([2.0, 2.0], numpy="1.23.5")]}
    table, _, summary = bench.build_table(args, pairs, trials, cpu_gflops=[200.0])
    header = [h.strip() for h in table.splitlines()[0].strip("|").split("|")]
    rows = {line.split("|")[2].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in table.splitlines()[2:]}
    chainer = rows["Chainer x (cpu, NumPy 1.23.5)"]
    assert chainer[header.index("ratio to PyTorch")] == "8.00"
    assert chainer[header.index("minigan / this")] == "0.25"                    # minigan takes 1/4 the time
    assert rows["minigan x (numpy)"][header.index("minigan / this")] == "—"
    assert summary["chainer:cpu:64"]["minigan_over_this"] == pytest.approx(0.25)
    assert summary["torch:cpu:64"]["minigan_over_this"] == pytest.approx(2.0)


def test_table_without_numpy_frameworks_keeps_its_columns():
    args = args_for(pairs=["minigan:numpy", "torch:cpu"])
    trials = {("minigan", "numpy", 64): [trial([0.5])], ("torch", "cpu", 64): [trial([0.25], threads=2)]}
    table, _, summary = bench.build_table(args, bench.parse_pairs(args), trials, cpu_gflops=[200.0])
    assert "minigan / this" not in table
    assert summary["minigan:numpy:64"]["ratio_to_torch"] == pytest.approx(2.0)


def test_conv_transpose_table_times_every_definition_and_shows_the_choice():
    import bench_conv_transpose as convt

    results = {2: convt.measure(2, "numpy", rounds=1, warmup=0, iters=1)}   # also checks they agree
    times, picks = results[2]
    assert set(times) == {(name, m) for name, *_ in convt.SHAPES for m in convt.METHODS}
    assert picks["cGAN G convT2"] == "subpixel" and picks["DCGAN convT4 / D conv1 dx"] == "scatter"
    table = convt.table([2], results)
    assert table.count("\n") == len(convt.SHAPES) + 1                       # header, rule, one row each
    # --methods scatter subpixel: dilate is not timed, its column shows a dash
    times, picks = convt.measure(2, "numpy", rounds=1, warmup=0, iters=1, methods=["scatter", "subpixel"])
    assert times[convt.SHAPES[0][0], "dilate"] == [] and len(times[convt.SHAPES[0][0], "subpixel"]) == 1
    row = convt.table([2], {2: (times, picks)}).splitlines()[2]
    assert row.split(" | ")[4] == "—"


def test_matmul_list_is_the_iteration_s_flops_and_its_conv_calls(monkeypatch):
    """bench_matmuls' list of one DCGAN iteration: PyTorch's FLOP count, and the conv array calls
    that minigan's real d_step + g_step make (counted at batch 4: the counts do not depend on it)."""
    import bench_matmuls as bm
    import minigan.fast as conv                                      # ops/conv.py calls fast.conv2d_array etc.

    assert round(bm.matmul_gflop(bm.iteration_matmuls(64)), 2) == bench.GFLOP_PER_ITER_AT_64["executed"]["dcgan"]
    listed = {}                                                       # before counting: it runs G and D
    for net, i, kind, *_ in bm.iteration_matmuls(4):
        if not (net == "G" and i == 0) and not (net == "D" and i == 4):      # the two Linear layers
            listed[(net, kind)] = listed.get((net, kind), 0) + 1
    calls = {"conv2d_array": 0, "conv_transpose2d_array": 0, "weight_grad": 0}

    def counting(name, function):
        def counted(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return counted

    for name in ("conv2d_array", "conv_transpose2d_array"):
        monkeypatch.setattr(conv, name, counting(name, getattr(conv, name)))
    from minigan.ops.conv import Conv2dWeightGrad
    monkeypatch.setattr(Conv2dWeightGrad, "forward", counting("weight_grad", Conv2dWeightGrad.forward))
    bench.minigan_iteration({"model": "dcgan", "batch": 4, "backend": "numpy", "device": "cpu", "seed": 0})()

    assert calls == {"conv2d_array": listed[("D", "forward")] + listed[("G", "dx")],
                     "conv_transpose2d_array": listed[("G", "forward")] + listed[("D", "dx")],
                     "weight_grad": listed[("D", "dW")] + listed[("G", "dW")]}


def test_permutation_p_counts_the_splits_at_least_as_far_apart():
    import plot_reference as pr

    # 3 vs 3 fully separated: only the observed split and its mirror are as extreme, 2 of 20
    assert pr.permutation_p([1.0, 2.0, 3.0], [10.0, 11.0, 12.0]) == pytest.approx(0.1)
    assert pr.permutation_p([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    # 1 vs 3, hand-counted: |mean difference| >= 4 for the split {a} = {10} only (4 splits)
    assert pr.permutation_p([10.0], [1.0, 2.0, 3.0]) == pytest.approx(0.25)


def test_seed_summary_gives_mean_sd_range_and_overlap_per_epoch():
    import plot_reference as pr

    def rows(*fcds):
        return [{"epoch": e + 1, "fcd": f} for e, f in enumerate(fcds)]

    table = {"minigan": {0: rows(500.0, 300.0), 1: rows(520.0, 310.0), 2: rows(540.0, 320.0)},
             "torch": {0: rows(800.0, 305.0), 1: rows(820.0, 250.0), 2: rows(840.0)}}
    summary, text = pr.seed_summary(table)
    first, second = summary
    assert first["minigan_mean"] == pytest.approx(520.0) and first["minigan_sd"] == pytest.approx(20.0)
    assert first["ranges_overlap"] is False and first["permutation_p"] == pytest.approx(0.1)
    assert second["n_torch"] == 2 and second["torch_range"] == [250.0, 305.0] and second["ranges_overlap"] is True
    assert "| 1 | 3 + 3 | 520.0 ± 20.0 (500.0-540.0) | 820.0 ± 20.0 (800.0-840.0) | +300.0 | no | 0.10 |" in text


def test_lesson_size_counts_code_explanation_and_blank_lines():
    import lesson_size
    assert {p.name for p in lesson_size.lesson_files()} >= {"autograd.py", "conv.py", "dcgan.py", "training.py"}
    assert not any(part in p.parts for p in lesson_size.lesson_files() for part in ("fast", "run", "tools"))
    source = ('"""Module docstring,\ntwo lines."""\n\nimport math  # a trailing comment: code\n\n'
              '# a comment line\ndef f(x):\n    """One line."""\n    return math.sqrt(x)\n')
    assert lesson_size.line_kinds(source) == (3, 4, 2)                     # code, explanation, blank
    rows, total = lesson_size.table(lesson_size.lesson_files()[:2], lesson_size.PKG)
    assert total[0] == total[1] + total[2] + total[3] and rows[-1].startswith("| **2 files** |")
