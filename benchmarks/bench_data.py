"""How long the dataset readers take to load the real files (issue: "loading is fast").

    python benchmarks/bench_data.py --data-dir ../shared/data --write-docs

Each measurement is a fresh read of the official files (CIFAR-10 streamed out of the .tar.gz, Fashion-MNIST
from the four .gz files), repeated --repeats times; the table shows the median and min-max.
"""

import argparse
import statistics
import time
from pathlib import Path

from common import add_repo_to_path, command_line, describe_machine, machine_lines, markdown_table, write_docs_section

add_repo_to_path()
from minigan.data import load_cifar10, load_fashion_mnist  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--write-docs", action="store_true")
parser.add_argument("--docs-path", default=str(Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"))
args = parser.parse_args()

cases = [
    ("CIFAR-10 train (50,000)", lambda: load_cifar10(Path(args.data_dir) / "cifar10", "train", download=False)),
    ("CIFAR-10 test (10,000)", lambda: load_cifar10(Path(args.data_dir) / "cifar10", "test", download=False)),
    ("Fashion-MNIST train (60,000)", lambda: load_fashion_mnist(Path(args.data_dir) / "fashion-mnist", "train", download=False)),
    ("Fashion-MNIST test (10,000)", lambda: load_fashion_mnist(Path(args.data_dir) / "fashion-mnist", "test", download=False)),
]
rows = []
for name, load in cases:
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        images, labels = load()
        times.append(time.perf_counter() - start)
    rows.append([name, f"{tuple(images.shape)} {images.dtype}", f"{statistics.median(times):.2f} s",
                 f"{min(times):.2f}-{max(times):.2f} s"])
    print(rows[-1])

body = "\n".join([
    "## Loading the real datasets",
    "",
    *machine_lines(describe_machine()),
    f"- command: `{command_line()}`",
    f"- {args.repeats} fresh reads each; CIFAR-10 is the JPEG-recovered copy in the official binary layout, "
    "streamed out of cifar-10-binary.tar.gz without extracting anything",
    "",
    markdown_table(["dataset", "arrays", "median", "min-max"], rows),
])
print(body)
if args.write_docs:
    write_docs_section(args.docs_path, "bench_data", body)
