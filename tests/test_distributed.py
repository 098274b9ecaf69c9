"""Data-parallel training (minigan/parallel/distributed.py).

Two kinds of tests:
- in this process, with stand-ins for the other ranks (a reducer that adds a known "peer" gradient, a
  fake NCCL that reads the device pointers it is given): the packing, the averaging, the sync-BN
  formulas, the NCCL id exchange and calls; on the NumPy and the strict (CuPy-like) backends;
- real runs of tests/distributed_run.py under ``mpiexec -n 2`` (skipped without mpi4py / mpiexec):
  2 ranks with batch B/2 each against 1 process with batch B, and a killed rank, then --resume;
- user mistakes under ``mpiexec -n 2`` (a run folder in use, --resume with another --sync-bn or
  --batch-size): every rank ends, with the one paragraph and exit code 2, within seconds. These run
  under a time limit that kills mpiexec and its ranks, so that a hang fails the test instead of CI.
"""

import ctypes
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import minigan as mg
from minigan import backend as backend_module, training
from minigan.run import training_state
from minigan.run import cli
from minigan.parallel import distributed
from minigan.run.checkpoint import CheckpointError, load_checkpoint
from minigan.ops.norm import batch_norm

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "tests" / "distributed_run.py"


def _mpiexec():
    beside_python = Path(sys.executable).parent / "mpiexec"         # the mpich wheel's, in the venv
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and _mpiexec() is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason='needs mpi4py and mpiexec: pip install -e ".[mpi]"')


# ----------------------------------------------------------------------------------------------------
# In this process: stand-ins for the other rank
# ----------------------------------------------------------------------------------------------------
class PeerReducer:
    """The reducer of rank 0 of 2, whose peer holds ``peer`` (a list of arrays, one per call)."""

    def __init__(self, *peer):
        self.peer, self.calls = list(peer), []

    def all_sum_(self, buf):
        other = self.peer.pop(0)
        assert other.shape == buf.shape
        self.calls.append(buf.size)
        buf += other


def test_average_gradients_is_one_all_reduce_of_every_gradient_end_to_end(backend, xp, rng):
    params = [mg.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in [(3, 4), (4,), (2, 1, 2)]]
    mine = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    theirs = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    for p, g in zip(params, mine):
        p.grad = xp.asarray(g)
    flat_theirs = xp.asarray(np.concatenate([g.ravel() for g in theirs]))   # (12 + 4 + 4,)
    reducer = PeerReducer(flat_theirs)
    dist = distributed.Distributed(0, 2, reducer, host=None)
    dist.average_gradients(params)
    assert reducer.calls == [20]                                     # ONE all-reduce of all 20 floats
    assert dist.sent["gradients"] == 20
    for p, a, b in zip(params, mine, theirs):
        assert p.grad.shape == p.shape
        np.testing.assert_allclose(backend_module.to_numpy(p.grad), (a + b) / 2, rtol=1e-6)


def test_shard_takes_this_ranks_rows_and_refuses_an_uneven_batch():
    x = mg.tensor(np.arange(12, dtype=np.float32).reshape(6, 2))
    shards = [distributed.Distributed(r, 3, None, None).shard(x).numpy() for r in range(3)]
    np.testing.assert_array_equal(np.concatenate(shards), x.numpy())
    np.testing.assert_array_equal(shards[1], [[4, 5], [6, 7]])
    with pytest.raises(distributed.DistributedError, match="multiple of 4"):
        distributed.Distributed(0, 4, None, None).shard(x)


class TwinShards:
    """``sync`` for batch_norm when the other rank's shard is a copy of this one: sums double."""
    world_size = 2

    def all_sum(self, a):
        return a * 2


def test_sync_batch_norm_over_two_equal_shards_is_batch_norm_of_both(backend, xp, rng):
    x = rng.standard_normal((3, 4, 2, 2))                            # one shard (N=3, C=4)
    g = rng.standard_normal(x.shape)                                 # upstream gradient of that shard
    gamma, beta = rng.standard_normal(4) + 1, rng.standard_normal(4)
    results = []
    for data, grad, sync in [(x, g, TwinShards()), (np.concatenate([x, x]), np.concatenate([g, g]), None)]:
        xt = mg.tensor(data, requires_grad=True, dtype=np.float64)
        gt, bt = (mg.tensor(v, requires_grad=True, dtype=np.float64) for v in (gamma, beta))
        running = [xp.zeros(4), xp.ones(4)]
        y = batch_norm(xt, gt, bt, *running, training=True, sync=sync)
        y.backward(xp.asarray(grad))
        results.append([backend_module.to_numpy(a) for a in (y.data, xt.grad, gt.grad, bt.grad, *running)])
    shard, both = results
    np.testing.assert_allclose(shard[0], both[0][:3], rtol=1e-12)                 # forward
    np.testing.assert_allclose(shard[1], both[1][:3], rtol=1e-10, atol=1e-12)     # dL/dx of the shard
    np.testing.assert_allclose(shard[2] * 2, both[2], rtol=1e-12)                 # this shard's half of
    np.testing.assert_allclose(shard[3] * 2, both[3], rtol=1e-12)                 # dL/dgamma, dL/dbeta
    np.testing.assert_allclose(shard[4], both[4], rtol=1e-12)                     # running mean and
    np.testing.assert_allclose(shard[5], both[5], rtol=1e-12)                     # var: M = 24, not 12


def test_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)                 # `import mpi4py` raises ImportError
    with pytest.raises(distributed.DistributedError, match=r'pip install -e "\.\[mpi\]"'):
        distributed.start()
    args = SimpleNamespace(distributed=True, sync_bn=False, batch_size=64)
    with pytest.raises(cli.UsageError, match="mpi4py"):
        cli.setup_distributed(args)


def test_sync_bn_without_distributed_is_refused():
    with pytest.raises(cli.UsageError, match="--sync-bn needs --distributed"):
        cli.setup_distributed(SimpleNamespace(distributed=False, sync_bn=True))
    assert cli.setup_distributed(SimpleNamespace(distributed=False, sync_bn=False)) is None


def test_resume_with_another_number_of_ranks_is_refused():
    spec, config = {"name": "gan"}, training.TrainConfig()
    meta = {"kind": "gan-training", "model": spec, "config": {"batch_size": config.batch_size}, "batch": 0,
            "distributed": {"world_size": 2, "sync_bn": False}}
    with pytest.raises(CheckpointError, match="mpiexec -n 2"):
        training_state._check_resumable("ckpt.npz", meta, config, spec, num_images=None, dist=None)
    two = distributed.Distributed(0, 2, None, None)
    training_state._check_resumable("ckpt.npz", meta, config, spec, num_images=None, dist=two)    # the same: accepted
    del meta["distributed"]                                          # a checkpoint from before: 1 process
    training_state._check_resumable("ckpt.npz", meta, config, spec, num_images=None, dist=None)


def test_check_same_weights_names_the_parameter_that_drifted():
    G = mg.nn.Sequential(mg.nn.Linear(2, 3), mg.nn.Linear(3, 1))

    class Host:                                                      # rank 1 is off in parameter 2
        def all_gather(self, row):
            other = row.copy()
            other[4] += 1e-7
            return np.stack([row, other])

    dist = distributed.Distributed(0, 2, None, Host())
    with pytest.raises(distributed.DistributedError, match=r"rank 1's weights differ .*0:1\.weight.*at iteration 7"):
        dist.check_same_weights(G, where="at iteration 7")


# --- the NCCL path, with fakes: what it hands to NCCL ----------------------------------------------
class FakeDeviceArray:
    """A host array dressed as a CuPy array: .data.ptr, .size, .dtype, .flags."""

    def __init__(self, a):
        self.a = np.ascontiguousarray(a)
        self.data = SimpleNamespace(ptr=self.a.ctypes.data)
        self.size, self.dtype, self.flags, self.shape = self.a.size, self.a.dtype, self.a.flags, self.a.shape


# The NCCL id of CuPy 14 and of CuPy 13 (cupy_backends/cuda/libs/nccl.pyx at v14.2.0 and v13.6.0;
# CuPy's upgrade guide, "Change in cupy.cuda.nccl.get_unique_id Return Type"):
#   CuPy 14: get_unique_id() -> bytes of length 128; NcclCommunicator(int ndev, bytes commId, int rank)
#            raises TypeError for anything but bytes and ValueError for a length other than 128.
#   CuPy 13: get_unique_id() -> tuple of 128 ints, each a C char (signed on x86-64, unsigned on ARM);
#            NcclCommunicator(int ndev, tuple commId, int rank), a char out of range: OverflowError.
NCCL_IDS = {
    "cupy14": bytes(range(100, 228)),                                # 128 bytes, some above 127
    "cupy13": tuple(range(-64, 64)),                                 # 128 signed chars (x86-64)
    "cupy13-arm": tuple(range(100, 228)),                            # 128 unsigned chars (ARM)
}


class FakeNccl:
    """cupy.cuda.nccl's names; its communicator sums in a peer's array by reading the raw pointers.

    ``version``: which CuPy's id API it has (a key of NCCL_IDS); its communicator checks the id's type,
    length and range as that CuPy's does."""
    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_INT64, NCCL_SUM = 7, 8, 4, 0
    C_TYPES = {7: ctypes.c_float, 8: ctypes.c_double, 4: ctypes.c_int64}

    def __init__(self, version="cupy14", peer=None):
        self.version, self.peer, self.made_ids, self.log = version, peer, 0, []
        fake = self

        class NcclCommunicator:
            def __init__(self, ndev, comm_id, rank):
                fake.check_id(comm_id)
                fake.log.append(("init", ndev, comm_id, rank))

            def allReduce(self, send, recv, count, dtype, op, stream):
                fake.log.append(("allReduce", count, dtype, op, stream))
                view = np.ctypeslib.as_array(ctypes.cast(recv, ctypes.POINTER(FakeNccl.C_TYPES[dtype])), (count,))
                view += fake.peer                                     # in place, at the given address

            def bcast(self, buf, count, dtype, root, stream):
                fake.log.append(("bcast", count, dtype, root, stream))

        self.NcclCommunicator = NcclCommunicator

    def get_unique_id(self):
        self.made_ids += 1
        return NCCL_IDS[self.version]

    def check_id(self, comm_id):
        want = bytes if self.version == "cupy14" else tuple
        if not isinstance(comm_id, want):
            raise TypeError(f"Argument 'commId' has incorrect type (expected {want.__name__}, "
                            f"got {type(comm_id).__name__})")
        if len(comm_id) != 128:
            raise ValueError(f"commId length {len(comm_id)} != 128.")
        low, high = (-128, 127) if self.version == "cupy13" else (0, 255)
        if want is tuple and not all(low <= c <= high for c in comm_id):
            raise OverflowError("value too large to convert to char")


class FakeComm:
    """mpi4py's COMM_WORLD for one rank of 2; Bcast copies rank 0's buffer (``sent``) into the others."""

    def __init__(self, rank, sent=None):
        self.rank, self.sent = rank, sent

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return 2

    def Bcast(self, buf, root=0):
        if self.rank == root:
            self.sent = buf.copy()
        else:
            buf[:] = self.sent


@pytest.mark.parametrize("version", list(NCCL_IDS))
def test_nccl_id_is_made_by_rank_0_and_broadcast_over_mpi(version):
    nccl0, nccl1 = FakeNccl(version), FakeNccl(version)
    rank0 = FakeComm(0)
    id0 = distributed.exchange_nccl_id(rank0, nccl0)
    assert rank0.sent.dtype == np.uint8 and rank0.sent.shape == (129,)   # MPI carries bytes
    id1 = distributed.exchange_nccl_id(FakeComm(1, sent=rank0.sent), nccl1)
    assert id0 == id1 == NCCL_IDS[version]                           # the same value and type as rank 0 got
    assert type(id1) is type(NCCL_IDS[version])
    assert (nccl0.made_ids, nccl1.made_ids) == (1, 0)               # rank 1 never makes its own


@pytest.mark.parametrize("version", list(NCCL_IDS))
def test_nccl_reducer_passes_pointers_counts_and_types_of_the_arrays(version):
    peer = np.arange(5, dtype=np.float32)
    rank0 = FakeComm(0)
    distributed.exchange_nccl_id(rank0, FakeNccl(version))          # rank 0's id, as MPI carries it
    nccl = FakeNccl(version, peer=peer)
    cupy = SimpleNamespace(cuda=SimpleNamespace(get_current_stream=lambda: SimpleNamespace(ptr=4242)))
    reducer = distributed.NcclReducer(FakeComm(1, sent=rank0.sent), nccl, cupy)
    assert nccl.log[0] == ("init", 2, NCCL_IDS[version], 1)          # rank 0's id, in this CuPy's type
    buf = FakeDeviceArray(np.ones(5, dtype=np.float32))
    reducer.all_sum_(buf)
    np.testing.assert_array_equal(buf.a, 1 + peer)                   # summed where buf lives
    assert nccl.log[1] == ("allReduce", 5, FakeNccl.NCCL_FLOAT32, FakeNccl.NCCL_SUM, 4242)
    reducer.broadcast_(FakeDeviceArray(np.zeros(3, dtype=np.int64)))
    assert nccl.log[2] == ("bcast", 3, FakeNccl.NCCL_INT64, 0, 4242)
    with pytest.raises(distributed.DistributedError, match="float16"):
        reducer.all_sum_(FakeDeviceArray(np.zeros(2, dtype=np.float16)))


def test_the_fake_nccl_refuses_what_each_cupy_refuses():
    """The fakes above can fail: CuPy 14 refuses a tuple, CuPy 13 bytes and out-of-range chars."""
    with pytest.raises(TypeError, match="expected bytes"):
        FakeNccl("cupy14").NcclCommunicator(2, NCCL_IDS["cupy13"], 0)
    with pytest.raises(ValueError, match="length 127"):
        FakeNccl("cupy14").NcclCommunicator(2, bytes(127), 0)
    with pytest.raises(TypeError, match="expected tuple"):
        FakeNccl("cupy13").NcclCommunicator(2, NCCL_IDS["cupy14"], 0)
    with pytest.raises(OverflowError):
        FakeNccl("cupy13").NcclCommunicator(2, NCCL_IDS["cupy13-arm"], 0)    # 200 is no signed char


# ----------------------------------------------------------------------------------------------------
# Real runs under mpiexec
# ----------------------------------------------------------------------------------------------------
def _run(out, *flags, ranks=None):
    command = [sys.executable, str(RUN), "--out", str(out), *flags]
    if ranks is not None:
        command = [_mpiexec(), "-n", str(ranks), *command, "--distributed"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def _finished(out, *flags, ranks=None):
    done = _run(out, *flags, ranks=ranks)
    assert done.returncode == 0, done.stdout + done.stderr
    return _state(out)


def _state(out):
    arrays, meta = load_checkpoint(Path(out) / "checkpoint.npz")
    log = [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines()]
    return arrays, meta, [r for r in log if "loss_D" in r]


def _assert_same_training(got, want):
    """The same weights, BatchNorm buffers, Adam states, position and logged losses, to float32 round-off."""
    (a, meta_a, log_a), (b, meta_b, log_b) = got, want
    assert sorted(a) == sorted(b)
    for key in b:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert (meta_a["epoch"], meta_a["iteration"]) == (meta_b["epoch"], meta_b["iteration"])
    assert len(log_a) == len(log_b)
    for ra, rb in zip(log_a, log_b):
        for k in ("loss_D", "loss_G", "D_x", "D_G_z"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-5, abs=1e-6), (ra, rb)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: one process, batch 16 (cached per model)."""
    runs = {}

    def run(*flags):
        if flags not in runs:
            runs[flags] = _finished(tmp_path_factory.mktemp("one_process"), *flags)
        return runs[flags]
    return run


@needs_mpi
def test_two_ranks_with_half_batches_train_like_one_process(one_process, tmp_path):
    two = _finished(tmp_path, ranks=2)
    assert two[1]["distributed"] == {"world_size": 2, "sync_bn": False}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "curves.png", "log.jsonl",
                                                          "samples_epoch001.png", "samples_epoch002.png",
                                                          "samples_epoch003.png", "samples_latest.png"]
    _assert_same_training(two, one_process())


@needs_mpi
def test_sync_bn_two_ranks_train_like_one_process(one_process, tmp_path):
    _assert_same_training(_finished(tmp_path, "--bn", "--sync-bn", ranks=2), one_process("--bn"))


@needs_mpi
@pytest.mark.slow
def test_per_rank_batch_norm_is_not_the_whole_batchs(one_process, tmp_path):
    """Without --sync-bn each rank normalises its own 8 examples: not what one process computes (this
    is also the proof that the sync-bn test above could fail)."""
    per_rank = _finished(tmp_path, "--bn", ranks=2)
    with pytest.raises(AssertionError):
        _assert_same_training(per_rank, one_process("--bn"))


@needs_mpi
def test_a_killed_rank_ends_the_run_and_resume_continues_it(one_process, tmp_path):
    killed = _run(tmp_path, "--kill-rank", "1", ranks=2)             # rank 1 dies in epoch 2
    said = killed.stdout + killed.stderr
    assert killed.returncode != 0, said
    assert "BAD TERMINATION" in said and "signal 9" in said, said   # mpiexec names the rank's death
    arrays, meta, _ = _state(tmp_path)                               # the last checkpoint is intact
    assert (meta["epoch"], meta["iteration"]) == (1, 2)
    resumed = _finished(tmp_path, "--resume", ranks=2)
    _assert_same_training(resumed, one_process())                    # as if never killed


@needs_mpi
@pytest.mark.slow
def test_dcgan_example_runs_distributed_and_writes_one_checkpoint(tmp_path):
    out = tmp_path / "dcgan"
    command = [_mpiexec(), "-n", "2", sys.executable, "examples/dcgan_cifar.py", "--distributed",
               "--dataset", "fake", "--epochs", "1", "--limit", "64", "--batch-size", "32", "--no-progress",
               "--out", str(out)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in out.glob("*.npz")] == ["checkpoint.npz"]
    assert done.stdout.count('"event": "epoch_end"') == 1            # rank 0 alone reports
    _, meta = load_checkpoint(out / "checkpoint.npz")
    assert (meta["iteration"], meta["distributed"]["world_size"]) == (2, 2)


@needs_mpi
def test_an_exception_on_one_rank_aborts_every_rank_instead_of_hanging(tmp_path):
    """Without the abort, rank 1 would wait in MPI_Finalize and rank 0 in its all-reduce, forever."""
    script = tmp_path / "fail.py"
    script.write_text("import numpy as np\nfrom minigan.parallel import distributed\nd = distributed.start()\n"
                      "for i in range(100):\n    if d.rank == 1 and i == 3:\n        raise RuntimeError('disk full')\n"
                      "    d.average_floats([1.0])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([_mpiexec(), "-n", "2", sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode != 0
    assert "rank 1 of 2 failed (RuntimeError); aborting every rank" in done.stderr, done.stderr


# ----------------------------------------------------------------------------------------------------
# User mistakes under mpiexec: every rank ends, within seconds
# ----------------------------------------------------------------------------------------------------
MPI_TINY = ["--dataset", "fake", "--limit", "32", "--batch-size", "16", "--sample-every", "0", "--no-progress",
            "--latent-dim", "8"]


def _bounded(command, limit=45):
    """(exit code, stdout, stderr, seconds) of ``command``; a run past ``limit`` seconds is a hang: mpiexec
    and every rank (one process group) are killed and the test fails."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy"}
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"still running after {limit} s (a hang): {' '.join(command)}\n{out}\n{err}")
    return proc.returncode, out, err, time.perf_counter() - start


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    """One epoch of the plain GAN, 2 ranks x 8 images, finished."""
    out = tmp_path_factory.mktemp("two_ranks") / "run"
    command = [_mpiexec(), "-n", "2", sys.executable, "examples/gan_fashion_mnist.py", "--distributed", *MPI_TINY,
               "--epochs", "1", "--out", str(out)]
    code, stdout, stderr, _ = _bounded(command, limit=300)
    assert code == 0, stdout + stderr
    return out


@needs_mpi
@pytest.mark.parametrize("extra, fragment", [
    ([], "already holds a training run"),                            # found before MPI starts
    (["--resume", "--sync-bn"], "with sync_bn=False, this run has 2 with sync_bn=True"),   # found by rank 0 alone
    (["--resume", "--batch-size", "32"], "saved with batch size 16, this run uses 32"),
])
def test_a_user_error_on_one_rank_ends_every_rank_within_seconds(two_rank_run, tmp_path, extra, fragment):
    out = tmp_path / "run"
    shutil.copytree(two_rank_run, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    command = [_mpiexec(), "-n", "2", sys.executable, "examples/gan_fashion_mnist.py", "--distributed", *MPI_TINY,
               "--epochs", "2", "--out", str(out), *extra]
    code, stdout, stderr, seconds = _bounded(command)
    assert code == 2, stdout + stderr
    assert fragment in stderr and "Traceback" not in stderr, stderr
    assert seconds < 30, f"{seconds:.0f} s"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before    # nothing touched
