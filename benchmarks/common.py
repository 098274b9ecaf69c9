"""Timing helpers shared by the benchmark scripts (standard library + NumPy; no torch, no cupy here).

    run_child(script, spec)        one trial in a FRESH Python process; returns the dict it printed
    child_main(run)                the other side: parse the spec, run, add peak RSS, print the result
    interleave(rounds, items)      round 1: a, b; round 2: a, b; ... (drift hits every item alike)
    summarize(times)               median / min / max / n of a list of seconds
    matmul_gflops()                float32 matmul throughput of this machine (2048^3, NumPy)
    describe_machine()             CPU model, cores, load, Python / NumPy / BLAS / PyTorch versions
    markdown_table(headers, rows)  a GitHub-flavoured table
    write_docs_section(path, key, body)   replace the text between <!-- key:BEGIN --> / <!-- key:END -->

Why these rules (see /work/shared/PEERS-PERF.md): on a small shared machine two identical runs can
differ by 20% and matmul throughput drifts during the day, so frameworks are compared only side by
side, interleaved, each trial in its own process (no allocator or thread-pool state carried over, and
peak RSS that belongs to one framework alone).
"""

import datetime
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULT_MARKER = "BENCH_RESULT "


def add_repo_to_path():
    """Make ``import minigan`` find this working tree (the scripts run from anywhere)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


# ----------------------------------------------------------------------------------------------------
# Trials in fresh processes
# ----------------------------------------------------------------------------------------------------
def run_child(script, spec, timeout=900, python=None, env_changes=None):
    """Run ``python script --child '<spec json>'`` and return the dict it printed (or an error dict).

    ``python``: the interpreter (default: this one), e.g. another virtualenv's for other frameworks.
    ``env_changes``: {name: value} set for the child (value "" removes the variable), e.g. the
    OpenBLAS kernel of an older NumPy that does not recognise this CPU (OPENBLAS_CORETYPE)."""
    cmd = [python or sys.executable, str(script), "--child", json.dumps(spec)]
    env = dict(os.environ)
    for name, value in (env_changes or {}).items():
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", **spec}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER):])
            result["process_seconds"] = time.perf_counter() - started
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail), **spec}


def child_main(spec_json, run):
    """Child side: ``run(spec) -> dict``; adds peak RSS and prints one result line for the parent."""
    spec = json.loads(spec_json)
    result = run(spec)
    result.update(spec)
    result["peak_rss_mib"] = peak_rss_mib()
    print(RESULT_MARKER + json.dumps(result), flush=True)


def peak_rss_mib():
    """Peak resident memory of THIS process so far, in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def interleave(rounds, items):
    """(round, item) pairs: every item once per round, in the same order, round after round."""
    return [(r, item) for r in range(rounds) for item in items]


def summarize(times):
    """{"median", "min", "max", "n"} of a list of seconds (None entries are dropped)."""
    times = [t for t in times if t is not None]
    if not times:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def make_sync(device, framework):
    """A function that waits for the accelerator (no-op on the CPU). Imports CuPy/torch lazily."""
    if device != "cuda":
        return lambda: None
    if framework == "torch":
        import torch
        return torch.cuda.synchronize
    import cupy  # the benchmark may import CuPy; the minigan package does it only in backend.py
    return cupy.cuda.Device().synchronize


# ----------------------------------------------------------------------------------------------------
# The machine
# ----------------------------------------------------------------------------------------------------
def matmul_gflops(n=2048, repeats=5):
    """Best float32 GFLOP/s of an n x n x n NumPy matmul (2 n^3 FLOPs): what the BLAS can reach here."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b                                                            # warm up: threads, pages
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def blas_name():
    """NumPy's BLAS, e.g. "scipy-openblas 0.3.29" (numpy >= 1.25 reports it as a dict)."""
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy, or a build that does not say
        return "unknown BLAS"


def blas_kernel():
    """The kernel family OpenBLAS picked at load time, e.g. "SkylakeX" (AVX-512) or "Haswell" (AVX2).

    OpenBLAS chooses it from the CPU unless the environment variable OPENBLAS_CORETYPE names one; on
    some machines that variable is set for all programs, and it can halve matmul throughput, so the
    benchmark tables say which kernel ran. None when NumPy's BLAS is not OpenBLAS (or on non-Linux)."""
    import ctypes
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        for symbol in ("openblas_get_corename", "openblas_get_corename64_", "scipy_openblas_get_corename64_",
                       "scipy_openblas_get_corename"):
            function = getattr(library, symbol, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                return function().decode()
    return None


def package_version(name):
    """Version of an installed distribution without importing it (torch imports in seconds)."""
    for dist in (name,) if name != "cupy" else ("cupy", "cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def describe_machine():
    info = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_name(),
        "blas_kernel": blas_kernel(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "torch": package_version("torch"),
        "cupy": package_version("cupy"),
    }
    return info


def machine_lines(info, extra=()):
    """Markdown bullet lines describing the machine and the software."""
    lines = [
        f"- date: {info['date']}",
        f"- CPU: {info['cpu']}, {info['cores']} usable cores; load average at start "
        f"{' / '.join(str(x) for x in info['load_average'])} (1 / 5 / 15 min)",
        f"- Python {info['python']}, NumPy {info['numpy']} ({info['blas']}"
        + (f", {info['blas_kernel']} kernels" if info.get("blas_kernel") else "")
        + (f", OPENBLAS_CORETYPE={info['openblas_coretype']} set in the environment"
           if info.get("openblas_coretype") else "")
        + ")"
        + (f", PyTorch {info['torch']}" if info.get("torch") else "")
        + (f", CuPy {info['cupy']}" if info.get("cupy") else ""),
    ]
    return lines + [f"- {e}" for e in extra]


def command_line():
    """The command that was run, as a user would type it (relative to the repository root)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(REPO_ROOT)
    except ValueError:
        pass
    return " ".join(["python", shlex.quote(str(script))] + [shlex.quote(shown_path(a)) for a in sys.argv[1:]])


def shown_path(text):
    """A path as the docs show it: inside the repository relative to it, elsewhere ``.../<last two parts>``
    (three for an interpreter: ``.../venv/bin/python``); the docs name no folder of the machine that ran
    the benchmark. ``NAME=/abs/path`` alike."""
    prefix, sep, value = text.rpartition("=") if "=" in text else ("", "", text)
    if not value.startswith("/"):
        return text
    path = Path(value)
    try:
        shown = str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        shown = ".../" + "/".join(path.parts[-3 if path.name.startswith("python") else -2:])
    return prefix + sep + shown


# ----------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------
def markdown_table(headers, rows):
    """A GitHub-flavoured markdown table; numbers are expected to be formatted already."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def fmt_s(seconds, digits=3):
    """Seconds with a unit that keeps 3 significant digits: 0.731 s, 12.4 ms, 85 us."""
    if seconds is None:
        return "—"
    if seconds >= 1:
        return f"{seconds:.{digits - 1}f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def write_docs_section(path, key, body, title="# Benchmarks\n"):
    """Put ``body`` between <!-- key:BEGIN --> and <!-- key:END --> in ``path`` (created if missing).

    An existing section with that key is replaced; otherwise the section is appended. Other sections
    and the text around them are kept as they are.
    """
    path = Path(path)
    begin, end = f"<!-- {key}:BEGIN -->", f"<!-- {key}:END -->"
    section = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else title + "\n" + (
        "Generated by the scripts in benchmarks/ (see benchmarks/README.md); each section is replaced\n"
        "when its script runs again with --write-docs.\n")
    if begin in text and end in text and text.index(begin) < text.index(end):
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
