"""Allocator settings: keep freed NumPy memory for reuse (glibc ``mallopt``). A speed setting, not a kernel.

Where this sits: minigan/fast/ (speed, arrays only). ``run/cli.setup_backend`` calls it for every
example script; the benchmarks call it too.
"""

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_FREED_BYTES = 2**30                 # blocks up to 1 GiB come from, and go back to, the heap


def keep_freed_memory():
    """Let freed NumPy arrays' memory be reused by the next ones, instead of returned to the kernel.

    Why: every NumPy temporary is a malloc. glibc serves a block above its "mmap threshold" (128 KiB
    at first, raised up to 32 MiB as it sees such blocks freed) with fresh pages from the kernel, and
    unmaps them on free; it also gives the top of its heap back once more than a threshold is free. A
    training iteration allocates the same big temporaries every time (im2col's columns, col2im's
    images: up to 34 MB each at batch 128), so without this each one arrives as new pages, and the
    kernel zeroes every 4 KiB page at its first touch (a page fault each). With both thresholds at
    1 GiB the freed blocks stay in the heap and the next iteration's arrays reuse them.

    Measured (DCGAN iteration, 2-core CPU, two A/Bs in docs/benchmarks.md): 7-13 % faster at batch
    128; at batch 64 between 5 % faster and 3 % slower, i.e. within the noise; no higher peak memory. The price: the process does not shrink after a
    peak (its freed memory waits for reuse), which suits a training process. A no-op (returns False)
    where the C library is not glibc. The example scripts call it (``cli.setup_backend``); call it
    once at the start of a training loop of your own.
    On a GPU it changes nothing that matters: CuPy keeps freed device memory in its own pool already.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):                               # musl (Alpine) has no mallopt
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_FREED_BYTES) and mallopt(M_TRIM_THRESHOLD, KEEP_FREED_BYTES))
