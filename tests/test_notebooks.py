"""The course notebooks (notebooks/): built from their sources, and each one runs and shows what it says.

- The committed .ipynb files are exactly what ``python notebooks/build.py`` makes from the jupytext
  "percent" sources notebooks/NN_*.py (Colab opens the .ipynb from GitHub; nobody edits them by hand).
- Every notebook runs top to bottom in a real Jupyter kernel (nbclient + ipykernel: what a learner's
  Jupyter does, magics and inline figures included) on its QUICK setting (``MINIGAN_NB_QUICK=1``), on
  NumPy, from a temporary folder, reading the shared real datasets when present and never downloading.
  What it prints and the pictures it saves are checked. The checks read numbers that do not depend on
  the last bits of float32 sums (exact small integers, finite losses, differences below a bound).
- The setup cell is the same in every notebook, and notebooks/README.md lists every notebook.
- The repository's address lives in pyproject.toml alone ([project.urls] Repository): the committed
  notebooks' REPO_URL and the README's Colab links are what build.py makes from it, and an address there
  gives the right REPO_URL and Colab links; without one, the setup cell stops with one paragraph.

nbclient rather than nbmake: nbmake runs a notebook as a test item and reports only whether a cell
raised; these tests also read the outputs, which nbclient hands back as the executed notebook.
"""

import ast
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SHARED = Path(os.environ.get("MINIGAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
KERNEL = "minigan-notebook-tests"


def _load_build():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()
SOURCES = build.sources()
NAMES = [src.stem for src in SOURCES]


def test_the_four_chapters_have_a_notebook():
    assert NAMES == ["01_gan_toy2d", "02_dcgan_cifar10", "03_transposed_conv", "04_cgan_fashion_mnist"]


def test_committed_notebooks_are_what_build_py_makes_from_their_sources():
    committed = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert committed == NAMES, "every notebooks/NN_*.py has its .ipynb and no .ipynb lacks a .py"
    for src in SOURCES:
        made = json.loads(build.ipynb_text(src))
        on_disk = json.loads(src.with_suffix(".ipynb").read_text(encoding="utf-8"))
        assert on_disk == made, (f"{src.with_suffix('.ipynb').name} is not what {src.name} gives: edit the .py, "
                                 "then run `python notebooks/build.py`")
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in on_disk["cells"] if c["cell_type"] == "code"), "outputs must be stripped"
    assert build.main(["--check"]) == 0


def test_build_refuses_a_hand_edited_notebook(tmp_path, monkeypatch, capsys):
    (tmp_path / "README.md").write_text(build.readme_text(build.repository()), encoding="utf-8")
    for src in SOURCES[:1]:
        (tmp_path / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
        edited = json.loads(build.ipynb_text(src))
        edited["cells"][0]["source"] = "# edited by hand"
        (tmp_path / src.with_suffix(".ipynb").name).write_text(json.dumps(edited), encoding="utf-8")
    monkeypatch.setattr(build, "HERE", tmp_path)
    assert build.main(["--check"]) == 1
    assert "01_gan_toy2d.ipynb" in capsys.readouterr().err


def test_every_notebook_opens_with_the_same_setup_cell():
    setup = [next(c.source for c in build.notebook_from_source(src).cells if c.cell_type == "code")
             for src in SOURCES]
    assert all(cell == setup[0] for cell in setup), "edit the setup cell in all four .py files alike"
    for needle in ('REPO_URL = ', '"google.colab" in sys.modules', 'shutil.which("nvidia-smi")', "cupy-cuda12x",
                   '"cupy-cuda13x[ctk]" if cuda_major() >= 13', r'CUDA Version:\s*(\d+)',
                   '("cupy" if ON_GPU else "numpy")', 'os.environ.get("MINIGAN_NB_QUICK") == "1"'):
        assert needle in setup[0]


def setup_cell(notebook):
    source = next(c["source"] for c in notebook["cells"] if c["cell_type"] == "code")
    return "".join(source)                                  # a list of lines in an .ipynb file


def test_committed_notebooks_and_colab_links_follow_pyproject():
    """REPO_URL in every committed notebook and the README's Colab block come from pyproject.toml alone."""
    address = build.repository()
    assert address is None or address.startswith("https://"), f"pyproject.toml: Repository = {address!r}"
    for src in SOURCES:
        cell = setup_cell(json.loads(src.with_suffix(".ipynb").read_text(encoding="utf-8")))
        assert re.findall(r'^REPO_URL = "([^"]*)"', cell, re.MULTILINE) == [build.repo_url(address)]
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    assert build.colab_block(address, NAMES) in readme, "run `python notebooks/build.py`"


def test_a_github_address_in_pyproject_gives_repo_url_and_colab_links(tmp_path, monkeypatch):
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    published = pyproject.replace("[project.urls]\n", '[project.urls]\nRepository = "https://github.com/OWNER/minigan"\n')
    assert published != pyproject
    (tmp_path / "pyproject.toml").write_text(published, encoding="utf-8")
    monkeypatch.setattr(build, "PYPROJECT", tmp_path / "pyproject.toml")
    assert build.repository() == "https://github.com/OWNER/minigan"
    for src in SOURCES:
        cell = setup_cell(build.notebook_from_source(src))
        assert 'REPO_URL = "git+https://github.com/OWNER/minigan"' in cell
    readme = build.readme_text(build.repository())
    for name in NAMES:
        link = f"https://colab.research.google.com/github/OWNER/minigan/blob/main/notebooks/{name}.ipynb"
        assert f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({link}) {name}" in readme
    assert build.colab_link("https://gitlab.com/OWNER/minigan", NAMES[0]) is None
    assert build.colab_link("https://github.com/OWNER/minigan.git", NAMES[0]).startswith(
        "https://colab.research.google.com/github/OWNER/minigan/blob/main/")


@pytest.mark.parametrize("header, major", [("| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |", 12),
                                           ("| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: 13.0 |", 13),
                                           ("no header", 12)])
def test_setup_cell_reads_the_cuda_major_version_from_nvidia_smi(header, major, tmp_path, monkeypatch):
    """The setup cell's cuda_major() (which picks cupy-cuda12x or cupy-cuda13x[ctk]), on a stand-in nvidia-smi."""
    if os.name == "nt":
        pytest.skip("the stand-in nvidia-smi is a shell script")
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\necho '{header}'\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    tree = ast.parse(setup_cell(build.notebook_from_source(SOURCES[0])))
    only = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "cuda_major"]
    namespace = {"re": re, "subprocess": subprocess}
    exec(compile(ast.Module(body=only, type_ignores=[]), "setup cell", "exec"), namespace)
    assert namespace["cuda_major"]() == major


def test_setup_cell_without_minigan_or_an_address_says_what_to_do(tmp_path):
    """Outside a copy of the repository, minigan missing and REPO_URL empty: one paragraph, nothing installed."""
    cell = setup_cell(json.loads(build.ipynb_text(SOURCES[0], address="")))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MINIGAN_BACKEND")}
    env["PATH"] = ""                                        # no nvidia-smi, no pip on PATH
    result = subprocess.run([sys.executable, "-S", "-c", cell], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)          # -S: no site-packages, so no minigan
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("ModuleNotFoundError: minigan is not installed"), result.stderr
    for hint in ("pip install -e .", "!git clone", "!unzip", "set REPO_URL", "[project.urls]"):
        assert hint in message, hint
    assert "pip install" not in result.stdout, "nothing is installed"


def test_readme_lists_every_notebook_and_its_links_exist():
    text = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"{name}.py" in text and f"{name}.ipynb" in text, name
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (NOTEBOOKS / target).exists(), f"notebooks/README.md links to a missing {target}"


# ----------------------------------------------------------------------------------------------------
# Running the notebooks
# ----------------------------------------------------------------------------------------------------
@pytest.fixture
def run_notebook(tmp_path, monkeypatch):
    """Execute notebooks/<name>.py's notebook in a fresh kernel of this Python; return what it showed."""
    kernels = tmp_path / "jupyter" / "kernels"
    write_kernel_spec(kernels / KERNEL)                    # this interpreter, whatever "python3" means here
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    for variable, folder in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                             ("IPYTHONDIR", "ipython")]:        # no user configuration, nothing written to HOME
        monkeypatch.setenv(variable, str(tmp_path / "jupyter" / folder))
    monkeypatch.setenv("MINIGAN_NB_QUICK", "1")
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    data = SHARED if SHARED.is_dir() else tmp_path / "no-data"       # never a download in the tests
    monkeypatch.setenv("MINIGAN_DATA", str(data))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("MPLBACKEND", raising=False)         # the kernel's inline backend shows the figures
    work = tmp_path / "work"                                # the notebooks write runs/... here
    work.mkdir()

    def run(name):
        nb = build.notebook_from_source(NOTEBOOKS / f"{name}.py")
        client = NotebookClient(nb, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(work)}})
        start = time.perf_counter()
        client.execute()                                     # raises CellExecutionError at a failing cell
        seconds = time.perf_counter() - start
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        stdout = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
        figures = sum(1 for o in outputs if "image/png" in o.get("data", {}))
        print(f"{name}: {seconds:.1f} s")                    # pytest -s shows what each notebook costs
        return stdout, figures, work / "runs" / name

    return run


def _number(pattern, text):
    match = re.search(pattern, text)
    assert match, f"not printed: {pattern!r}\n{text[-2000:]}"
    return float(match.group(1))


def _final_losses(stdout):
    """The notebook's last line of training numbers: finite losses, verdicts that are probabilities."""
    loss_d = _number(r"final: loss_D (\S+)", stdout)
    loss_g = _number(r"final: loss_D \S+  loss_G (\S+)", stdout)
    d_x = _number(r"final: .* D\(x\) (\S+)", stdout)
    d_g_z = _number(r"final: .* D\(G\(z\)\) (\S+)", stdout)
    assert math.isfinite(loss_d) and math.isfinite(loss_g) and loss_d > 0 and loss_g > 0
    assert 0 <= d_x <= 1 and 0 <= d_g_z <= 1


def _picture(path):
    assert path.is_file(), f"{path.name} was not saved"
    with Image.open(path) as image:
        return image.size                                    # (width, height)


def _data_source(stdout, real_name, folder):
    if (SHARED / folder).is_dir():
        assert f"{real_name}: 256 training images" in stdout
    else:
        assert "random stand-in images" in stdout


def test_notebook_01_gan_toy2d_trains_and_draws(run_notebook):
    stdout, figures, out = run_notebook("01_gan_toy2d")
    assert "backend: numpy; settings: QUICK" in stdout        # the test's settings reached the kernel
    assert "parameters: G 17,154, D 17,025" in stdout
    _final_losses(stdout)
    blobs = _number(r"blobs covered: (\d+) of 8", stdout)
    share = _number(r"points on a blob: (\d+)%", stdout)
    assert 0 <= blobs <= 8 and 0 <= share <= 100
    assert figures == 4                                      # real points, snapshots, D's view, curves
    width, height = _picture(out / "toy2d.png")
    assert width > 5 * height                                # six panels side by side


def test_notebook_02_dcgan_trains_and_samples(run_notebook):
    stdout, figures, out = run_notebook("02_dcgan_cifar10")
    _data_source(stdout, "CIFAR-10", "cifar10")
    assert "G: 3,022,147 parameters; D: 2,760,385 parameters" in stdout
    assert "(3,) float32 numpy -> (2, 3, 32, 32) float32 numpy" in stdout  # mg.trace(): G's last layer
    _final_losses(stdout)
    assert _picture(out / "samples_epoch1.png") == (8 * 34 + 2, 8 * 34 + 2)   # 8x8 images of 32 px, 2 px gaps
    assert _picture(out / "interpolation.png") == (10 * 34 + 2, 34 + 2)
    assert (out / "curves.png").is_file()
    assert figures == 5                                      # real, before, after epoch 1, curves, path


def test_notebook_03_transposed_conv_kieu1_equals_kieu2(run_notebook):
    stdout, figures, out = run_notebook("03_transposed_conv")
    # the course note's example, in exact small integers
    assert "s=1, p=0: [[0, 0, 1], [0, 4, 6], [4, 12, 9]]" in stdout
    assert "s=2, p=1: [[0, 2], [2, 0]]" in stdout
    assert "zero-inserted: [[0, 0, 1], [0, 0, 0], [2, 0, 3]]" in stdout
    assert "output:        [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]" in stdout
    assert stdout.count("all four equal: True") == 4
    assert "C^T x = [[0, 0, 1], [0, 4, 6], [4, 12, 9]]" in stdout
    assert "k=3: 4x4 -> 8x8, taps per pixel in row 3: [2, 4, 2, 4, 2, 4, 2, 2]" in stdout
    # random multi-channel layers: the two definitions agree up to rounding
    assert _number(r"max \|Kiểu 1 - Kiểu 2\| float32: (\S+)", stdout) < 1e-5
    assert _number(r"max \|Kiểu 1 - Kiểu 2\| float64: (\S+)", stdout) < 1e-12
    assert _number(r"layer vs Kiểu 2 by hand: max difference (\S+)", stdout) < 1e-5
    for name in ("kieu1_s1_p0", "kieu1_s2_p1", "kieu2_s2_p0", "kieu2_s1_p0", "kieu2_s2_p1", "checkerboard"):
        width, height = _picture(out / f"{name}.png")
        assert width > height
    assert figures == 6


def test_notebook_04_cgan_trains_and_answers_a_class(run_notebook):
    stdout, figures, out = run_notebook("04_cgan_fashion_mnist")
    _data_source(stdout, "Fashion-MNIST", "fashion-mnist")
    assert "labels (10,) int64 -> embedding (10, 50) -> label maps (10, 1, 7, 7)" in stdout
    assert "(2, 128, 7, 7) float32 numpy, (2, 1, 7, 7) float32 numpy -> (2, 129, 7, 7)" in stdout   # Concat
    _final_losses(stdout)
    assert _picture(out / "samples_epoch1.png") == (10 * 30 + 2, 10 * 30 + 2)   # a row per class
    assert _picture(out / "class_7.png") == (10 * 30 + 2, 30 + 2)
    assert _picture(out / "one_z_ten_labels.png") == (10 * 30 + 2, 30 + 2)
    assert figures == 5                                      # real, after epoch 1, class 7, one z, curves
