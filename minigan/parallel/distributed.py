"""Data-parallel training: the same GAN step on W processes, their gradients averaged by one all-reduce.

Reading order: training -> **distributed** -> cli -> examples/. Read training.py first: nothing here
changes the maths of a step, only which examples each process sees and what the processes exchange.
The pictures and a worked example are in docs/distributed.md.

The idea (data parallelism: ChainerMN, Horovod, PyTorch's DistributedDataParallel)
  - W processes, "ranks" 0..W-1, started together by ``mpiexec -n W``, each hold a full copy of G, D
    and their Adam states. At the start every rank receives rank 0's copy (``broadcast_start``).
  - Each batch of B examples is cut into W shards of B/W; rank r takes rows [r*B/W, (r+1)*B/W)
    (``shard``). The batch order is the seed's, as for one process. The noise z is drawn for the
    whole batch on every rank (one seed, so the same numbers everywhere) and cut the same way.
  - Each rank runs forward and backward on its shard; its gradient g_r is that of the mean loss over
    its own B/W examples. ``average_gradients`` then sums them over the ranks and divides by W:
        g = (g_0 + ... + g_{W-1}) / W  =  the gradient of the mean loss over all B examples,
    what one process would have computed. Every rank gets the same g and runs the same Adam step, so
    the W copies of the weights stay identical without ever being sent again.
  - The gradients travel end to end in ONE flat buffer, laid out like Adam's m and v
    (``fast.adam.flat_offsets``): one all-reduce of P floats per network step, not one per parameter.
  - BatchNorm: by default each rank normalises with its own shard's statistics (as PyTorch's
    DistributedDataParallel does); ``sync_bn=True`` sums them over the ranks (ops/norm.py, ``sync``), so
    that the statistics are the whole batch's, at the price of small all-reduces inside every forward
    and backward.
  - Rank 0 alone writes files (training.py asks ``rank == 0``); the losses of the log are averaged over
    the ranks, so the log shows the whole batch's numbers.

Backends. NumPy arrays go through MPI (mpi4py; ``pip install -e ".[mpi]"`` brings the ``mpich`` wheel
with its ``mpiexec``). CuPy arrays go through NCCL (``cupy.cuda.nccl``), one GPU per rank; MPI still
starts the processes and carries rank 0's NCCL id to the others. The NCCL path has NOT been run on a
GPU yet (docs/distributed.md says what was tested instead).

Failures. A rank that raises calls MPI_Abort (``_abort_on_exception``), so that no other rank waits
forever in an all-reduce that will never complete; a rank killed outright is seen by ``mpiexec``,
which stops the others. Checkpoints are written atomically by rank 0, so the last one stays intact.
"""

import json
import sys
from contextlib import contextmanager

import numpy as np

from minigan import backend
from minigan.backend import get_array_module
from minigan.fast.adam import flat_offsets, flat_views
from minigan.nn.layers import BatchNorm1d, BatchNorm2d
from minigan.run import rng_state
from minigan.tensor import Tensor

NCCL_UNIQUE_ID_BYTES = 128      # the size of NCCL's ncclUniqueId (nccl.h)
NCCL_ID_AS_BYTES, NCCL_ID_AS_SIGNED_CHARS, NCCL_ID_AS_UNSIGNED_CHARS = 0, 1, 2   # exchange_nccl_id's forms
MPI_INSTALL_HINT = 'pip install -e ".[mpi]"   (mpi4py and the mpich wheel, which brings mpiexec)'


class DistributedError(RuntimeError):
    """Data-parallel training cannot go on: MPI is missing, or the ranks disagree."""


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise DistributedError(f"--distributed needs mpi4py, which is not installed. Install it with\n"
                               f"    {MPI_INSTALL_HINT}\n"
                               f"then start W processes with `mpiexec -n W python ...`. (ImportError: {err})"
                               ) from err
    return MPI


def start(sync_bn=False):
    """The ``Distributed`` of this process. Call it after choosing the backend, before building the models.

    Under ``mpiexec -n W`` there are W ranks; a script started without mpiexec is one rank of one.
    On CuPy each rank takes the GPU ``local_rank % (GPUs on its machine)`` and NCCL is set up.
    """
    MPI = _import_mpi()
    comm = MPI.COMM_WORLD
    local_rank = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()    # the rank among those on this machine
    if backend.get_backend() == "cupy":
        cupy = backend.xp()
        cupy.cuda.Device(local_rank % cupy.cuda.runtime.getDeviceCount()).use()
        reducer = NcclReducer(comm, backend.cupy_nccl(), cupy)
    else:
        reducer = MpiReducer(comm, MPI)
    if comm.Get_size() > 1:
        _abort_on_exception(comm, comm.Get_rank(), comm.Get_size())
    return Distributed(comm.Get_rank(), comm.Get_size(), reducer, host=MpiReducer(comm, MPI),
                       sync_bn=sync_bn, local_rank=local_rank)


# ----------------------------------------------------------------------------------------------------
# The two transports: each sums (all-reduce) or broadcasts one contiguous array, in place
# ----------------------------------------------------------------------------------------------------
class MpiReducer:
    """NumPy (host) arrays through MPI: MPI_Allreduce(MPI_IN_PLACE, buf, MPI_SUM) and MPI_Bcast."""

    def __init__(self, comm, MPI):
        self.comm, self.MPI = comm, MPI

    def all_sum_(self, buf):
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)

    def broadcast_(self, buf, root=0):
        self.comm.Bcast(buf, root=root)

    def all_gather(self, row):
        """(n,) float64 on every rank -> (W, n): row r is rank r's."""
        rows = np.empty((self.comm.Get_size(), row.size), dtype=np.float64)
        self.comm.Allgather(np.ascontiguousarray(row, dtype=np.float64), rows)
        return rows


def exchange_nccl_id(comm, nccl):
    """NCCL's 128-byte id, made by rank 0 and broadcast by MPI: the "address" of one NCCL communicator.

    Every rank passes the same id to NcclCommunicator; a rank that got another id would wait forever.
    The id's Python type depends on CuPy's version, and each rank gets back the type rank 0 was given:
      CuPy >= 14: ``bytes`` (128 of them), and ``NcclCommunicator(ndev, commId: bytes, rank)``;
      CuPy 13:    a tuple of 128 ints, each one C ``char``: -128..127 where char is signed (x86-64),
                  0..255 where it is unsigned (ARM); ``NcclCommunicator(ndev, commId: tuple, rank)``.
    (CuPy's cupy_backends/cuda/libs/nccl.pyx at v13.6.0 and v14.2.0, and its upgrade guide,
    docs/source/upgrade.rst, "Change in cupy.cuda.nccl.get_unique_id Return Type".)
    MPI carries the 128 bytes, and one more byte in front saying which of the three to give back.
    """
    buf = np.zeros(1 + NCCL_UNIQUE_ID_BYTES, dtype=np.uint8)          # (1 + 128,): the form, then the id
    if comm.Get_rank() == 0:
        uid = nccl.get_unique_id()
        if isinstance(uid, bytes):                                     # CuPy >= 14
            buf[0] = NCCL_ID_AS_BYTES
            buf[1:] = np.frombuffer(uid, dtype=np.uint8)
        else:                                                          # CuPy 13: 128 chars as ints
            buf[0] = NCCL_ID_AS_UNSIGNED_CHARS if max(uid) > 127 else NCCL_ID_AS_SIGNED_CHARS
            buf[1:] = np.array(uid, dtype=np.int16).astype(np.uint8)   # -1 -> 255: the same bit pattern
    comm.Bcast(buf, root=0)
    form, raw = int(buf[0]), buf[1:]                                   # raw: (128,) uint8
    if form == NCCL_ID_AS_BYTES:
        return raw.tobytes()
    if form == NCCL_ID_AS_SIGNED_CHARS:
        return tuple(int(c) for c in raw.view(np.int8))               # 255 -> -1
    return tuple(int(c) for c in raw)


class NcclReducer:
    """CuPy (GPU) arrays through NCCL: ncclAllReduce(sum) and ncclBcast on the current CUDA stream.

    NCCL takes raw device pointers (``a.data.ptr``), an element count and a type code; it is queued
    on the stream like a kernel, so the operations after it on the same stream see its result.
    Not yet run on a GPU (docs/distributed.md).
    """

    def __init__(self, comm, nccl, cupy):
        self.nccl, self.cupy = nccl, cupy
        self.types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64, "int64": nccl.NCCL_INT64}
        uid = exchange_nccl_id(comm, nccl)                             # bytes (CuPy >= 14) or a tuple (13)
        self.comm = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())

    def _type(self, buf):
        if str(buf.dtype) not in self.types or not buf.flags.c_contiguous:
            raise DistributedError(f"NCCL: expected a contiguous {' / '.join(self.types)} array, "
                                   f"got {buf.dtype} of shape {buf.shape}")
        return self.types[str(buf.dtype)]

    def all_sum_(self, buf):
        stream = self.cupy.cuda.get_current_stream().ptr
        self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._type(buf), self.nccl.NCCL_SUM, stream)

    def broadcast_(self, buf, root=0):
        stream = self.cupy.cuda.get_current_stream().ptr
        self.comm.bcast(buf.data.ptr, buf.size, self._type(buf), root, stream)


# ----------------------------------------------------------------------------------------------------
# What training.py calls
# ----------------------------------------------------------------------------------------------------
class Distributed:
    """This process's place among the W ranks, and the operations the training loop needs.

    ``reducer`` moves the backend's arrays (MPI for NumPy, NCCL for CuPy); ``host`` moves small NumPy
    arrays through MPI (the log's numbers, checksums, the JSON of the start state).
    ``sent`` counts the floats (array elements) this rank handed to all-reduce and broadcast, by purpose.
    """

    def __init__(self, rank, world_size, reducer, host, sync_bn=False, local_rank=0):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.reducer, self.host, self.sync_bn = reducer, host, sync_bn
        self.sent = {"gradients": 0, "batch_norm": 0, "log": 0, "start": 0}

    def __repr__(self):
        return f"Distributed(rank {self.rank} of {self.world_size}, sync_bn={self.sync_bn})"

    def describe(self):
        """What a checkpoint records, and --resume compares."""
        return {"world_size": self.world_size, "sync_bn": self.sync_bn}

    # --- the batch ---------------------------------------------------------------------------------
    def shard(self, t):
        """This rank's rows of a batch (B, ...) -> (B/W, ...): rows [rank*B/W, (rank+1)*B/W)."""
        n = t.shape[0]
        if n % self.world_size:
            raise DistributedError(f"a batch of {n} cannot be cut into {self.world_size} equal shards: "
                                   f"use a --batch-size that is a multiple of {self.world_size}")
        k = n // self.world_size
        return Tensor(t.data[self.rank * k:(self.rank + 1) * k])       # (B/W, ...), a view

    # --- the gradients: one flat buffer, one all-reduce ---------------------------------------------
    def average_gradients(self, params):
        """Replace every p.grad by its mean over the ranks. Call it between backward() and step()."""
        params = [p for p in params if p.grad is not None]             # the same list on every rank
        offsets = flat_offsets(params)
        xp = get_array_module(params[0].grad)
        flat = xp.concatenate([p.grad.reshape(-1) for p in params])    # (P,) every gradient end to end
        self.reducer.all_sum_(flat)                                    # (P,) g_0 + ... + g_{W-1}
        self.sent["gradients"] += flat.size
        flat /= self.world_size                                        # the mean
        for p, g in zip(params, flat_views(flat, params, offsets)):
            p.grad = g                                                 # views of the averaged buffer

    # --- BatchNorm statistics over every rank (--sync-bn) -------------------------------------------
    def all_sum(self, array):
        """The sum of ``array`` over the ranks, as a new array (ops/norm.py calls it with (C,) sums)."""
        total = array.copy()
        self.reducer.all_sum_(total)
        self.sent["batch_norm"] += total.size
        return total

    def use_sync_batch_norm(self, *modules):
        """Make every BatchNorm layer of ``modules`` take its statistics over the whole batch."""
        for module in modules:
            for m in module.modules():
                if isinstance(m, (BatchNorm1d, BatchNorm2d)):
                    m.sync = self

    @contextmanager
    def local_batch_norm(self, module):
        """BatchNorm on this rank's data alone, for work one rank does by itself (rank 0's sample grids):
        a synchronised layer would wait for ranks that are not running it."""
        layers = [m for m in module.modules() if isinstance(m, (BatchNorm1d, BatchNorm2d))]
        saved = [m.sync for m in layers]
        for m in layers:
            m.sync = None
        try:
            yield module
        finally:
            for m, sync in zip(layers, saved):
                m.sync = sync

    # --- small host values: the log, the stop flag, the start state ---------------------------------
    def average_floats(self, values):
        """Python floats -> their means over the ranks (one all-reduce of len(values) float64)."""
        buf = np.array(values, dtype=np.float64)                       # (n,)
        self.host.all_sum_(buf)
        self.sent["log"] += buf.size
        return [float(v) / self.world_size for v in buf]

    def broadcast_json(self, obj):
        """Rank 0's JSON-able ``obj`` on every rank (as JSON text: no pickle crosses between ranks)."""
        text = np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8) if self.rank == 0 else None
        length = np.array([0 if text is None else text.size], dtype=np.int64)
        self.host.broadcast_(length)
        buf = text.copy() if text is not None else np.empty(int(length[0]), dtype=np.uint8)
        self.host.broadcast_(buf)
        return json.loads(buf.tobytes().decode())

    def broadcast_start(self, G, D, opt_G, opt_D, fixed, position):
        """Everything rank 0 holds (fresh or resumed) onto every rank; returns rank 0's position.

        Weights and BatchNorm buffers, both Adam states, the fixed sample noise; then, as JSON, the
        position and the random generator's state. The ranks are identical from here on.
        """
        arrays = [t.data for module in (G, D) for _, t in module.named_tensors()]
        opt_states = [opt.state_dict() for opt in (opt_G, opt_D)]
        arrays += [a for state in opt_states for a in state.values()]
        arrays += [t.data for t in fixed if t is not None]
        for a in arrays:
            self.reducer.broadcast_(a)
            self.sent["start"] += a.size
        for opt, state in zip((opt_G, opt_D), opt_states):
            opt.load_state_dict(state)                                 # Adam's step count t is in there
        numpy_rng = backend.get_backend() == "numpy"
        start = self.broadcast_json({"position": position,
                                     "rng_state": rng_state.get_rng_state() if numpy_rng else None})
        if start["rng_state"] is not None:
            rng_state.set_rng_state(start["rng_state"])
        return start["position"]

    def check_same_weights(self, *modules, where=""):
        """Raise on every rank if any rank's parameters differ from rank 0's (a step that forgot to
        average its gradients). Compares two float64 checksums per parameter: sum(w) and sum(w*w)."""
        named = [(f"{i}:{name}", p) for i, m in enumerate(modules) for name, p in m.named_parameters()]
        sums = []
        for _, p in named:
            xp = get_array_module(p.data)
            w = p.data.astype(xp.float64)
            sums += [float(w.sum()), float((w * w).sum())]
        rows = self.host.all_gather(np.array(sums))                    # (W, 2 * parameters)
        for r in range(1, self.world_size):
            differs = np.flatnonzero(rows[r] != rows[0])
            if differs.size:
                name = named[differs[0] // 2][0]
                raise DistributedError(
                    f"rank {r}'s weights differ from rank 0's ({name}, and {differs.size // 2} others) {where}: "
                    "a training step updated the weights without distributed.average_gradients() before "
                    "its optimizer step, so the copies drifted apart")


def _abort_on_exception(comm, rank, world_size):
    """An uncaught exception on one rank: print it, then MPI_Abort, which stops every rank.

    Without this the failing rank would wait in MPI_Finalize and the others in their next all-reduce,
    forever (mpi4py's ``python -m mpi4py script.py`` does the same). The hook before this one prints the
    exception: the scripts' (``run/cli.py``) prints a user mistake as one paragraph and ends it with
    ``SystemExit(2)``; that exit code is caught here and becomes the code of MPI_Abort, so the whole job
    ends with it within a second, however many ranks are waiting.
    """
    previous = sys.excepthook

    def abort(kind, value, traceback):
        code = 1
        try:
            previous(kind, value, traceback)
        except SystemExit as exit:                                   # a user mistake (2), Ctrl-C (130)
            code = exit.code if isinstance(exit.code, int) else 1
        if code == 1:                                                # a bug or a failed run
            said = (f"failed ({kind.__name__}); aborting every rank. The last checkpoint, written atomically "
                    f"by rank 0, is intact: continue with `mpiexec -n {world_size} ... --resume`.")
        else:                                                        # the message above says what to do
            said = f"stopped ({kind.__name__}, exit code {code}); stopping every rank."
        sys.stderr.write(f"[minigan.parallel.distributed] rank {rank} of {world_size} {said}\n")
        sys.stderr.flush()
        comm.Abort(code)

    sys.excepthook = abort
