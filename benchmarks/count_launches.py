"""Count the device launches and the blocking host reads of one training iteration, on the CPU.

    python benchmarks/count_launches.py                        # DCGAN, cGAN, WGAN-GP at batch 64
    python benchmarks/count_launches.py --models dcgan --where # and which op files launch what
    python benchmarks/count_launches.py --json counts.json

On a GPU, a step of this size is bound by launches (each kernel costs the host some microseconds to
queue, however little it computes) and by blocking host reads (``loss.item()``, ``float(x)``,
``bool(x)``, ``to_numpy``: the host waits until the GPU has finished everything queued before it, so
nothing overlaps). Both can be counted without a GPU: the iteration runs on the strict stand-in for
CuPy (tests/strict_xp.py), which takes the same code path as CuPy (every ``backend == "numpy"`` choice
goes the CuPy way) and hands every array operation to a wrapper, counted here.

How it counts (an estimate of what CuPy would launch, by the rule "one kernel per array written"):
  - a call of the array module (``xp.exp``, ``xp.matmul``, ``xp.concatenate``, ``xp.zeros``, ...), a
    method (``a.sum()``, ``a.astype(...)``, ``a.copy()``) or an operator (``a * b``, ``a += b``)
    counts ONE launch when it writes an array: it returns a new non-empty array, or writes into one
    (in-place operators, ``a[i] = v``, ``a.fill``, ``out=``, ``xp.add.at``);
  - nothing is counted for a view (a result sharing memory with an input: a reshape of a contiguous
    array, a transpose, a basic slice, ``as_strided``), for ``xp.empty``/``empty_like`` (allocation,
    no kernel), or for a call that returns no array (``xp.result_type``);
  - the categories: matmul (``matmul``/``dot``/``tensordot``/``einsum``: one cuBLAS call each),
    reduction (``sum``, ``mean``, ``max``, ``var``, ... and ``ufunc.reduce``), random (the
    generator's draws: cuRAND), the rest elementwise or copy;
  - host reads: ``float()``, ``int()``, ``bool()``, ``.item()``, ``.tolist()``, ``operator.index`` of
    a device array and ``backend.to_numpy`` (device -> host copies); each one is located by the
    innermost three frames inside the minigan package (file:line, function);
  - uploads (host -> device copies: ``xp.asarray`` of NumPy data) are counted apart; they do not
    block the host on a GPU the way reads do.
It undercounts where CuPy needs more than one kernel for one call (``var``: 2-3; ``matmul`` of a
non-contiguous operand: a copy first; ``concatenate`` of many arrays) and overcounts nothing that
writes an array. Fused CuPy kernels (``cupy.ElementwiseKernel``) reached only on CuPy are not seen.

The iteration is the trainer's (benchmarks/gan_iteration.py): the D step(s), then the G step; WGAN-GP
with the trainer's 5 critic steps. It runs once unseen (Adam allocates its state in its first step),
then once counted.
"""

import argparse
import collections
import json
import os
import sys

import numpy as np

import gan_iteration as gi
import minigan as mg
from minigan import autograd

MINIGAN_DIR = os.path.dirname(mg.__file__)
MATMUL = {"matmul", "dot", "tensordot", "einsum", "inner", "__matmul__", "__rmatmul__"}
REDUCTION = {"sum", "mean", "var", "std", "max", "min", "amax", "amin", "prod", "argmax", "argmin", "any",
             "all", "cumsum", "count_nonzero", "nansum", "average", "norm", "reduce"}
NO_KERNEL = {"empty", "empty_like"}
HOST_READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__")


class Counts:
    """What one counted iteration did."""

    def __init__(self):
        self.on = False
        self.launches = collections.Counter()      # by category
        self.by_call = collections.Counter()       # by array function / method name
        self.by_place = collections.Counter()      # by the innermost minigan function
        self.host_reads = collections.Counter()    # by where in minigan (two frames)
        self.uploads = collections.Counter()       # by the innermost minigan function
        self.functions = 0                         # autograd Functions called (graph nodes)

    def launch(self, name):
        category = ("matmul" if name in MATMUL else "reduction" if name.split(".")[-1] in REDUCTION
                    else "random" if name.startswith("random.") else "elementwise/copy")
        self.launches[category] += 1
        self.by_call[name] += 1
        self.by_place[minigan_frames(1)] += 1

    def host_read(self, name):
        self.host_reads[f"{minigan_frames(3)}  [{name}]"] += 1

    def upload(self):
        self.uploads[minigan_frames(1)] += 1


COUNTS = Counts()


def minigan_frames(n):
    """The innermost ``n`` frames of the caller's stack that are inside the minigan package."""
    frame, found = sys._getframe(2), []
    while frame is not None and len(found) < n:
        path = frame.f_code.co_filename
        if path.startswith(MINIGAN_DIR) and not path.endswith("backend.py"):
            found.append(f"{os.path.relpath(path, os.path.dirname(MINIGAN_DIR))}:{frame.f_lineno} "
                         f"{frame.f_code.co_name}")
        frame = frame.f_back
    return " <- ".join(found) or "(outside minigan)"


# ----------------------------------------------------------------------------------------------------
# The counting layer over the strict stand-in
# ----------------------------------------------------------------------------------------------------
def install(strict_xp):
    """Wrap the strict backend's module functions, array methods, operators, conversions and random
    generator so that each call reports to COUNTS (only while ``COUNTS.on``)."""
    StrictArray = strict_xp.StrictArray

    def arrays_in(values):
        for v in values:
            if isinstance(v, StrictArray):
                yield v
            elif isinstance(v, (list, tuple)):
                yield from arrays_in(v)

    def record(name, args, kwargs, result):
        """One launch if the call wrote an array (see the module docstring); an upload if it copied NumPy data in."""
        if not COUNTS.on or name.split(".")[-1] in NO_KERNEL:
            return
        inputs = list(arrays_in(list(args) + list(kwargs.values())))
        if name.split(".")[-1] in ("asarray", "array", "asanyarray") and not inputs:
            COUNTS.upload()                                          # host -> device
            return
        results = [r for r in (result if isinstance(result, (list, tuple)) else [result]) if isinstance(r, StrictArray)]
        index = args[1] if name == "__getitem__" else None
        if isinstance(index, int) or (isinstance(index, tuple) and all(isinstance(i, int) for i in index)):
            return                                                   # a[i, j]: a 0-d view on CuPy (NumPy copies)
        writes = "out" in kwargs or (result is None and inputs)
        new = any(r.size and not any(np.may_share_memory(r.a, i.a) for i in inputs) for r in results)
        if writes or new:
            COUNTS.launch(name)

    def counted(fn, name):
        def call(*args, **kwargs):
            result = fn(*args, **kwargs)
            record(name, args, kwargs, result)
            return result
        call.__name__ = getattr(fn, "__name__", name)
        return call

    # module functions: xp.exp, xp.lib.stride_tricks.as_strided, xp.add (a ufunc, with .at / .reduce)
    module_getattr = strict_xp.StrictModule.__getattr__

    def getattr_counted(self, name):
        obj = module_getattr(self, name)
        if isinstance(obj, strict_xp.StrictUfunc):
            return CountedUfunc(obj, name)
        if callable(obj) and not isinstance(obj, (type, strict_xp.StrictModule)) and name != "random":
            return counted(obj, name)
        return obj

    class CountedUfunc:
        def __init__(self, ufunc, name):
            self.ufunc, self.name = ufunc, name

        def __call__(self, *args, **kwargs):
            return counted(self.ufunc, self.name)(*args, **kwargs)

        def at(self, a, indices, b=None):
            self.ufunc.at(a, indices, b)
            if COUNTS.on:
                COUNTS.launch(f"{self.name}.at")

        def __getattr__(self, attr):                                 # .reduce, .outer, ...
            obj = getattr(self.ufunc, attr)
            return counted(obj, f"{self.name}.{attr}") if callable(obj) else obj

    strict_xp.StrictModule.__getattr__ = getattr_counted

    # methods and operators of the arrays (in-place ones and __setitem__ always write)
    for name in strict_xp._METHODS + strict_xp._OPERATORS + ("__getitem__",):
        setattr(StrictArray, name, counted(getattr(StrictArray, name), name))
    for name in strict_xp._INPLACE + ("__setitem__", "fill"):
        def writes(*args, _fn=getattr(StrictArray, name), _name=name, **kwargs):
            result = _fn(*args, **kwargs)
            if COUNTS.on:
                COUNTS.launch(_name)
            return result
        setattr(StrictArray, name, writes)

    # blocking host reads: Python conversions and the backend's device -> host copy
    for name in HOST_READS:
        def read(self, *args, _fn=getattr(StrictArray, name), _name=name):
            if COUNTS.on:
                COUNTS.host_read(_name)
            return _fn(self, *args)
        setattr(StrictArray, name, read)

    def to_numpy(x):
        if COUNTS.on:
            COUNTS.host_read("to_numpy")
        return strict_xp.to_numpy(x)

    mg.backend.register_backend("strict", strict_xp.STRICT_MODULE, StrictArray, to_numpy)

    # the generator's draws (cuRAND on CuPy)
    for name in ("standard_normal", "random_sample", "normal", "uniform"):
        def draw(self, *args, _fn=getattr(strict_xp.StrictRandomState, name), _name=name, **kwargs):
            if COUNTS.on:
                COUNTS.launch(f"random.{_name}")
            return _fn(self, *args, **kwargs)
        setattr(strict_xp.StrictRandomState, name, draw)

    # autograd Functions (graph nodes), for the record
    function_call = autograd.Function.__call__

    def call_counted(self, *inputs):
        if COUNTS.on:
            COUNTS.functions += 1
        return function_call(self, *inputs)

    autograd.Function.__call__ = call_counted


# ----------------------------------------------------------------------------------------------------
# One iteration of each model
# ----------------------------------------------------------------------------------------------------
def count(model, batch, seed=0, d_steps=None):
    """Counts of the second iteration of ``model`` on the counted strict backend."""
    global COUNTS
    s = gi.setup(model, batch, "strict", seed, d_steps)
    gi.iteration(s)                                                  # unseen: Adam allocates its state
    COUNTS = Counts()
    COUNTS.on = True
    gi.iteration(s)
    COUNTS.on = False
    mg.set_backend("numpy")
    return COUNTS, s.config.d_steps


def report(model, counts, d_steps, where):
    total = sum(counts.launches.values())
    parts = ", ".join(f"{k} {v}" for k, v in counts.launches.most_common())
    print(f"{model} ({d_steps} D step{'s' if d_steps > 1 else ''} + 1 G step): {total} launches ({parts}); "
          f"{sum(counts.host_reads.values())} blocking host reads; {sum(counts.uploads.values())} uploads; "
          f"{counts.functions} autograd Functions")
    for place, n in counts.host_reads.most_common():
        print(f"    host read x{n}: {place}")
    if where:
        for place, n in counts.uploads.most_common(5):
            print(f"    upload x{n}: {place}")
        print("    launches by array call:", ", ".join(f"{k} {v}" for k, v in counts.by_call.most_common(12)))
        print("    launches by minigan function (innermost):")
        for place, n in counts.by_place.most_common(15):
            print(f"      {n:5d}  {place}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", choices=gi.MODELS, default=list(gi.MODELS))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--wgan-d-steps", type=int, default=None, help="critic steps per WGAN-GP iteration (default: 5)")
    p.add_argument("--where", action="store_true", help="also show which calls and minigan functions launch")
    p.add_argument("--json", help="write the counts to this JSON file")
    args = p.parse_args(argv)

    install(gi.strict_backend())
    results = {}
    print(f"one training iteration at batch {args.batch} on the strict stand-in for CuPy, counted "
          f"(benchmarks/count_launches.py)")
    for model in args.models:
        counts, d_steps = count(model, args.batch, d_steps=args.wgan_d_steps if model == "wgan-gp" else None)
        report(model, counts, d_steps, args.where)
        results[model] = {"batch": args.batch, "d_steps": d_steps, "launches": sum(counts.launches.values()),
                          "launches_by_category": dict(counts.launches),
                          "host_reads": sum(counts.host_reads.values()), "host_reads_by_place": dict(counts.host_reads),
                          "uploads": sum(counts.uploads.values()), "functions": counts.functions}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
