"""Running a real training: the full runner, checkpoints, run folders, resume, pictures, CLI helpers.

Tooling, read after the lesson (``minigan/training.py``): ``trainer.train`` is ``training.train_loop``
plus run folders (runfolder.py), atomic checkpoints and bit-exact resume (checkpoint.py,
training_state.py), Ctrl-C, health checks, logs and sample grids (viz.py). ``cli.py`` holds what the
example scripts share: argument types, the data options, one-paragraph user errors; ``checks.py`` what
they check before any work (contradicting options, output paths), ``datasets.py`` their training data.
"""
