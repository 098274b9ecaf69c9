"""MINIGAN_TEST_BACKENDS (tests/conftest.py): which backends' cases a pytest run collects.

benchmarks/gpu_check.sh runs ``MINIGAN_TEST_BACKENDS=cupy python -m pytest`` to run the CuPy cases
alone. These tests run pytest ``--collect-only`` in a subprocess on a small test file, next to copies
of the real tests/conftest.py and tests/strict_xp.py, and read which test ids were collected.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

SAMPLE = '''
import pytest

def test_on_every_backend(backend):
    pass

def test_on_no_backend():
    pass

@pytest.mark.backends("strict")
def test_about_strict():
    pass

@pytest.mark.backends("cupy")
def test_about_cupy():
    pass
'''


def collect(tmp_path, selection):
    """(exit code, collected test ids, output) of `pytest --collect-only` with MINIGAN_TEST_BACKENDS=selection
    (None: unset)."""
    for name in ("conftest.py", "strict_xp.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "MINIGAN_TEST_BACKENDS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if selection is not None:
        env["MINIGAN_TEST_BACKENDS"] = selection
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "test_sample.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    ids = [line.split("::", 1)[1] for line in done.stdout.splitlines() if line.startswith("test_sample.py::")]
    return done.returncode, ids, done.stdout + done.stderr


def cupy_here():
    sys.path.insert(0, str(TESTS))
    try:
        import conftest
        return conftest._cupy_available()
    finally:
        sys.path.remove(str(TESTS))


def test_unset_collects_every_available_backend_and_the_tests_that_use_none(tmp_path):
    code, ids, out = collect(tmp_path, None)
    assert code == 0, out
    expected = {"test_on_every_backend[numpy]", "test_on_every_backend[strict]", "test_on_no_backend",
                "test_about_strict", "test_about_cupy"}
    assert expected <= set(ids), out
    assert ("test_on_every_backend[cupy]" in ids) == cupy_here()


@pytest.mark.parametrize("selection, expected", [
    ("strict", ["test_on_every_backend[strict]", "test_about_strict"]),
    ("numpy, strict", ["test_on_every_backend[numpy]", "test_on_every_backend[strict]", "test_about_strict"]),
    ("numpy", ["test_on_every_backend[numpy]"]),
])
def test_a_selection_collects_only_those_backends_cases(tmp_path, selection, expected):
    code, ids, out = collect(tmp_path, selection)
    assert code == 0, out
    assert ids == expected, out
    total = len(selection.split(",")) + 3                            # the fixture takes the selected names only
    assert f"{len(ids)}/{total} tests collected ({total - len(ids)} deselected)" in out


def test_cupy_runs_the_cupy_cases_alone_or_refuses_where_there_is_none(tmp_path):
    code, ids, out = collect(tmp_path, "cupy")
    if cupy_here():
        assert code == 0 and ids == ["test_on_every_backend[cupy]", "test_about_cupy"], out
    else:                                                            # a usage error, not a run that skips all
        assert code != 0 and ids == [], out
        assert "MINIGAN_TEST_BACKENDS names cupy, but the cupy backend is not available here" in out


def test_an_unknown_backend_is_a_usage_error(tmp_path):
    code, ids, out = collect(tmp_path, "numpy,torch")
    assert code == 4 and ids == [], out                              # pytest's exit code for usage errors
    assert "unknown backend 'torch'" in out
