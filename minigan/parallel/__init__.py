"""Training on several processes: data-parallel over MPI (CPU) or NCCL (GPUs). See distributed.py and
docs/distributed.md. Tooling: nothing in the lesson imports it."""
