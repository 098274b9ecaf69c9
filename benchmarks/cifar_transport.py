"""Carry CIFAR-10 to a machine that cannot download it, in under 64 MB (the GPU machine's transfer limit).

The official binary archive is 174 MB: raw pixels barely compress. This script packs

    the training set (50,000 images) as ONE JPEG mosaic, 250 x 200 tiles of 32 x 32, quality 95,
        no chroma subsampling: JPEG works on 8 x 8 blocks and 32 is a multiple of 8, so no block
        straddles two images and each tile decodes exactly as if it had been compressed on its own
        (about 33 MB, PSNR about 47 dB against the originals: printed by ``pack``);
    the test set (10,000 images) losslessly: the official ``test_batch.bin``, gzip-compressed (28 MB),
        so that test accuracies measured on the other machine are on the exact test images;

and ``unpack`` writes the official binary batch files again (``cifar-10-batches-bin/*.bin``), which
``minigan.data.load_cifar10`` reads like any other copy. Training on the JPEG-coded training images
is a (small) change of the data, so every result made this way must say so.

    python benchmarks/cifar_transport.py pack   --data-dir ../shared/data/cifar10 --to .gpu/cifar_pack
    python benchmarks/cifar_transport.py unpack --from .gpu/cifar_pack --to /tmp/cifar10
"""

import argparse
import gzip
import io
import json
import time
from pathlib import Path

import numpy as np

from minigan.data.cifar10 import FOLDER, SPLIT_FILES, load_cifar10, read_tar_members

TILE = 32
GRID = (250, 200)                                                    # rows x columns of tiles: 50,000


def to_mosaic(images):                                               # (R*C, 32, 32, 3) -> (R*32, C*32, 3)
    rows, cols = GRID
    return images.reshape(rows, cols, TILE, TILE, 3).transpose(0, 2, 1, 3, 4).reshape(rows * TILE, cols * TILE, 3)


def from_mosaic(mosaic):                                             # (R*32, C*32, 3) -> (R*C, 32, 32, 3)
    rows, cols = GRID
    return mosaic.reshape(rows, TILE, cols, TILE, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, TILE, TILE, 3)


def pack(data_dir, to, quality):
    from PIL import Image

    to.mkdir(parents=True, exist_ok=True)
    images, labels = load_cifar10(data_dir, "train", download=False)   # (50000, 32, 32, 3) uint8
    if len(images) != GRID[0] * GRID[1]:
        raise ValueError(f"expected {GRID[0] * GRID[1]} training images, got {len(images)}")
    buffer = io.BytesIO()
    Image.fromarray(to_mosaic(images)).save(buffer, "JPEG", quality=quality, subsampling=0)
    (to / "train_mosaic.jpg").write_bytes(buffer.getvalue())
    (to / "train_labels.u8").write_bytes(labels.astype(np.uint8).tobytes())
    decoded = from_mosaic(np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")))
    error = decoded.astype(np.float64) - images
    psnr = 10 * np.log10(255.0 ** 2 / np.mean(error ** 2))

    [(_, test_bytes)] = read_tar_members(Path(data_dir) / "cifar-10-binary.tar.gz", SPLIT_FILES["test"])
    (to / "test_batch.bin.gz").write_bytes(gzip.compress(test_bytes, compresslevel=9))
    info = {"train": {"format": f"JPEG mosaic {GRID[0]}x{GRID[1]} tiles, quality {quality}, 4:4:4",
                      "images": int(len(images)), "psnr_db": round(float(psnr), 2),
                      "max_abs_error": int(np.abs(error).max()), "mean_abs_error": round(float(np.abs(error).mean()), 3)},
            "test": {"format": "official test_batch.bin, gzip (exact)", "bytes": len(test_bytes)},
            "packed": time.strftime("%Y-%m-%d %H:%M:%S")}
    (to / "pack.json").write_text(json.dumps(info, indent=1))
    sizes = {p.name: p.stat().st_size for p in sorted(to.iterdir())}
    print(json.dumps(info, indent=1))
    print("files:", ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()),
          f"= {sum(sizes.values()) / 1e6:.1f} MB")


def unpack(source, to):
    from PIL import Image

    folder = to / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    images = from_mosaic(np.asarray(Image.open(source / "train_mosaic.jpg").convert("RGB")))  # (50000, 32, 32, 3)
    labels = np.frombuffer((source / "train_labels.u8").read_bytes(), dtype=np.uint8)
    records = np.empty((len(images), 1 + 3 * TILE * TILE), dtype=np.uint8)    # the official record layout
    records[:, 0] = labels
    records[:, 1:] = images.transpose(0, 3, 1, 2).reshape(len(images), -1)    # R, G, B planes
    for i, name in enumerate(SPLIT_FILES["train"]):                           # 5 files of 10,000 records
        (folder / name).write_bytes(records[i * 10000:(i + 1) * 10000].tobytes())
    (folder / "test_batch.bin").write_bytes(gzip.decompress((source / "test_batch.bin.gz").read_bytes()))
    print(f"wrote {folder}: {len(images)} training images (JPEG-coded), 10,000 test images (exact)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="official archive -> JPEG mosaic + gzipped test batch")
    p.add_argument("--data-dir", required=True, help="folder holding cifar-10-binary.tar.gz")
    p.add_argument("--to", required=True, type=Path)
    p.add_argument("--quality", type=int, default=95)
    u = commands.add_parser("unpack", help="packed folder -> official binary batch files")
    u.add_argument("--from", dest="source", required=True, type=Path)
    u.add_argument("--to", required=True, type=Path)
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.data_dir, args.to, args.quality)
    else:
        unpack(args.source, args.to)
