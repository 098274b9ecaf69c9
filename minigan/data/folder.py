"""Your own images: a folder of PNG / JPEG / WebP files, decoded with Pillow into one uint8 array.

Reading order (data package): download -> fashion_mnist -> cifar10 -> **folder** -> batching -> fake.
Next read ``batching.py``.

The folder is laid out like torchvision's ``ImageFolder``::

    DIR/cat/0001.png  DIR/cat/0002.jpg ...     one sub-folder per class: the folder name is the class,
    DIR/dog/a.webp    DIR/dog/more/b.png ...   classes are numbered in sorted order (cat=0, dog=1);
                                               deeper sub-folders belong to their top-level class
or
    DIR/0001.png  DIR/0002.jpg ...             no sub-folders: one class (fine for GAN / DCGAN)

Every image goes through the same four visible steps (``decode_image``)::

    open + decode (Pillow)  ->  upright: the EXIF orientation applied      a phone's portrait photo is
                                                                           stored sideways + a tag
                            ->  mode: RGB (3 channels) or L (1 channel)   RGBA / LA / palette with
                                                                           transparency: over white
                            ->  centre crop to a square: side = min(W, H)
                            ->  resize to size x size (Lanczos)            down- or up-scaling
                            ->  uint8 (size, size, 3) or (size, size)

What is not an image is handled like this (``load_image_folder`` prints a summary of each kind):

- files with another extension (``notes.txt``, ``Thumbs.db``) and hidden files/folders (``.DS_Store``,
  ``.cache/``) are **ignored** and counted;
- files with an image extension that Pillow cannot decode (truncated, corrupt, or a text file named
  ``.png``) are **skipped and counted** by default, with the first few named; ``strict=True`` refuses
  the whole folder at the first one instead;
- an empty folder, a folder with no decodable image, and a folder that mixes images with class
  sub-folders raise ``ImageFolderError`` with what was expected, what was found and how to fix it.

Decoding 100,000 JPEGs takes minutes, so the decoded array can be cached (``cache_dir=...``): one
``.npz`` file (no pickle) per folder, size and channel count. Next to the arrays it stores a
fingerprint of the folder: a hash of every file's relative path, byte size and modification time.
Add, remove, replace or touch one file and the fingerprint no longer matches, so the cache is not
used: the folder is decoded again and the cache overwritten.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from minigan.data.download import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
CACHE_VERSION = 2     # bump when decode_image changes what it produces: old caches are then ignored
                      # (2: the EXIF orientation is applied)
MAX_NAMED = 5         # how many skipped files a summary names


class ImageFolderError(DatasetError):
    """A folder of images cannot be used: empty, nothing decodable, an ambiguous layout, a corrupt file
    (with ``strict=True``), or Pillow missing. A ``DatasetError``, hence a ``ValueError``."""


# ----------------------------------------------------------------------------------------------------
# Listing: which files are images, and which class each belongs to
# ----------------------------------------------------------------------------------------------------
def list_image_folder(root):
    """(files, labels, class_names, ignored) of a folder, all in sorted order.

    files: [Path] of the image files; labels: [int], one per file; class_names: [str] (one "" for a
    flat folder); ignored: [Path] of the non-image files. Raises ImageFolderError for a missing or
    empty folder and for a folder that mixes top-level images with class sub-folders.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise ImageFolderError(f"--data-dir {root} {what}: --dataset folder expects a folder of "
                               f"images ({'/'.join(IMAGE_EXTENSIONS)}), or one sub-folder of images per "
                               "class. Check the path.")
    top_images, top_ignored = _images_in(root, recursive=False)
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if top_images and class_dirs:
        raise ImageFolderError(
            f"{root} holds {len(top_images)} image(s) at the top level (e.g. {top_images[0].name}) and "
            f"{len(class_dirs)} sub-folder(s) (e.g. {class_dirs[0].name}/): expected either images only "
            "(one class) or one sub-folder per class. Move the top-level images into a sub-folder.")
    if not class_dirs:
        files, ignored, labels, names = top_images, top_ignored, [0] * len(top_images), [""]
    else:
        files, ignored, labels, names = [], list(top_ignored), [], []
        for class_dir in class_dirs:
            images, skipped = _images_in(class_dir, recursive=True)
            ignored += skipped
            if images:  # an empty sub-folder is not a class
                files += images
                labels += [len(names)] * len(images)
                names.append(class_dir.name)
    if not files:
        found = f"only {len(ignored)} other file(s), e.g. {ignored[0].name}" if ignored else "nothing"
        raise ImageFolderError(
            f"no images in {root}: expected files ending in {', '.join(IMAGE_EXTENSIONS)} (in the folder "
            f"or in one sub-folder per class), found {found}. Put your images there, or check --data-dir.")
    return files, labels, names, ignored


def _images_in(folder, recursive):
    """(image files, other files) under ``folder``, sorted; hidden entries are skipped entirely."""
    images, others = [], []
    entries = sorted(folder.rglob("*") if recursive else folder.iterdir())
    for path in entries:
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") for part in relative) or not path.is_file():
            continue
        (images if path.suffix.lower() in IMAGE_EXTENSIONS else others).append(path)
    return images, others


# ----------------------------------------------------------------------------------------------------
# Decoding one image
# ----------------------------------------------------------------------------------------------------
def _pillow():
    try:
        from PIL import Image, ImageOps  # imported here: only --dataset folder needs Pillow
    except ImportError as err:
        raise ImageFolderError("--dataset folder decodes images with Pillow, which is not installed; "
                               "install it with `pip install pillow`") from err
    return Image, ImageOps


def decode_image(path, size, channels=3):
    """One image file -> uint8 (size, size, 3) if channels == 3, or (size, size) if channels == 1.

    Returns (pixels, original mode, original (width, height)). Raises whatever Pillow raises for a
    file it cannot decode (OSError, ValueError, ...); ``load_image_folder`` turns that into a skip.
    """
    Image, ImageOps = _pillow()
    with Image.open(path) as img:
        img.load()                                                   # decode now: errors surface here
        mode = img.mode
        img = ImageOps.exif_transpose(img)   # EXIF Orientation 6 = "rotate 90 degrees clockwise to view"
        original_size = img.size                                     # as the photo is viewed
        img = _to_mode(img, "RGB" if channels == 3 else "L")
    width, height = img.size
    side = min(width, height)                                        # centre crop to a square
    left, top = (width - side) // 2, (height - side) // 2
    img = img.crop((left, top, left + side, top + side))             # (side, side)
    if side != size:
        img = img.resize((size, size), Image.Resampling.LANCZOS)     # (size, size)
    return np.asarray(img, dtype=np.uint8), mode, original_size      # (size, size, 3) or (size, size)


def _to_mode(img, target):
    """Convert to "RGB" or "L": transparent pixels over white, 16-bit values scaled to 8 bits."""
    Image, _ = _pillow()
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):             # 16-bit PNGs, float TIFF-likes
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if values.max() > 255 else 255.0
        img = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8), mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)                      # transparent -> white background
    return img if img.mode == target else img.convert(target)


# ----------------------------------------------------------------------------------------------------
# The whole folder, with a summary and an optional cache
# ----------------------------------------------------------------------------------------------------
def load_image_folder(root, size, channels=3, strict=False, cache_dir=None, progress=True,
                      verbose=True):
    """Decode every image of a folder (see the module docstring for the layout and the rules).

    Args:
        root: the folder (``--data-dir``).
        size: the side of the square images the model expects (28, 32, 64, ...).
        channels: 3 (RGB) or 1 (grayscale).
        strict: refuse the folder at the first file that cannot be decoded (default: skip and count).
        cache_dir: a folder for the decoded-array cache (None: no cache).
        progress: a progress bar (tqdm) while decoding.
        verbose: print a summary (counts, conversions, skipped files).

    Returns:
        images: uint8 (N, size, size, 3) or (N, size, size); labels: int64 (N,); class_names: [str].
    """
    if channels not in (1, 3):
        raise ValueError(f"load_image_folder: channels must be 1 or 3, got {channels!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"load_image_folder: size must be an int >= 1, got {size!r}")
    say = print if verbose else (lambda *a: None)
    files, labels, class_names, ignored = list_image_folder(root)
    root = Path(root).expanduser()
    if ignored:
        say(f"{root}: ignored {len(ignored)} file(s) that are not {'/'.join(IMAGE_EXTENSIONS)} "
            f"(e.g. {ignored[0].relative_to(root)})")

    cache_path = None
    if cache_dir is not None:
        cache_path = cache_file(cache_dir, root, size, channels)
        current = fingerprint(root, files)
        cached = _read_cache(cache_path, current, say)
        if cached is not None and not (strict and cached[3]):       # strict: re-check skipped files
            images, labels_kept, names, n_skipped = cached
            say(f"{root}: {len(images)} images from the cache {cache_path}"
                + (f" ({n_skipped} file(s) were skipped when it was made)" if n_skipped else ""))
            return images, labels_kept, names

    pixels, kept_labels, skipped, modes, sizes = [], [], [], {}, {}
    for path, label in _bar(list(zip(files, labels)), progress, f"decoding {root.name or root}"):
        try:
            image, mode, original = decode_image(path, size, channels)
        except Exception as err:  # Pillow's errors for bad files vary (OSError, ValueError, SyntaxError...)
            if strict:
                raise ImageFolderError(
                    f"cannot decode {path} ({type(err).__name__}: {err}); strict mode refuses the folder. "
                    "Delete or replace the file, or leave strict mode off to skip such files.") from err
            skipped.append((path, f"{type(err).__name__}: {err}"))
            continue
        pixels.append(image)
        kept_labels.append(label)
        modes[mode] = modes.get(mode, 0) + 1
        sizes[original] = sizes.get(original, 0) + 1
    if not pixels:
        raise ImageFolderError(
            f"none of the {len(files)} image file(s) in {root} could be decoded (e.g. {skipped[0][0].name}: "
            f"{skipped[0][1]}); they may be truncated, corrupt or not images. Check the files.")
    images = np.stack(pixels)                                        # (N, size, size[, 3]) uint8
    labels_kept = np.asarray(kept_labels, dtype=np.int64)           # (N,)
    _summarise(say, root, images, labels_kept, class_names, skipped, modes, sizes, size, channels)
    if cache_path is not None:
        _write_cache(cache_path, current, images, labels_kept, class_names, len(skipped), say)
    return images, labels_kept, class_names


def cache_file(cache_dir, root, size, channels):
    """The cache of one folder at one size: ``cache_dir/<folder name>-<hash of its path>-32x32x3.npz``."""
    absolute = str(Path(root).expanduser().resolve())
    tag = hashlib.sha256(absolute.encode()).hexdigest()[:12]
    return Path(cache_dir).expanduser() / f"{Path(absolute).name}-{tag}-{size}x{size}x{channels}.npz"


def fingerprint(root, files):
    """A hash of (relative path, byte size, mtime) of every file, and of CACHE_VERSION."""
    digest = hashlib.sha256(f"minigan image folder cache v{CACHE_VERSION}\n".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _bar(items, enabled, description):
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=description, unit="img", disable=not enabled, dynamic_ncols=True)


def _summarise(say, root, images, labels, class_names, skipped, modes, sizes, size, channels):
    target = "RGB" if channels == 3 else "L"
    say(f"{root}: {len(images)} images -> uint8 {images.shape[1:]}"
        + (f", {len(class_names)} classes ({', '.join(class_names[:10])}"
           f"{', ...' if len(class_names) > 10 else ''})" if class_names != [""] else ", one class"))
    converted = {m: n for m, n in modes.items() if m != target}
    if converted:
        say("  converted to " + target + ": " + ", ".join(f"{n} {m}" for m, n in sorted(converted.items()))
            + (" (transparency over white)" if any(m in ("RGBA", "LA", "PA", "P") for m in converted) else ""))
    if len(sizes) > 1 or (size, size) not in sizes:
        small = sum(n for (w, h), n in sizes.items() if min(w, h) < size)
        (w, h), = sizes if len(sizes) == 1 else [(None, None)]
        found = f"all {w}x{h}" if w is not None else f"{len(sizes)} different sizes"
        say(f"  {found}: centre-cropped to a square and resized to {size}x{size}"
            + (f" ({small} of them scaled up)" if small else ""))
    if skipped:
        say(f"  SKIPPED {len(skipped)} file(s) that could not be decoded:")
        for path, why in skipped[:MAX_NAMED]:
            say(f"    {path.relative_to(root)}: {why}")
        if len(skipped) > MAX_NAMED:
            say(f"    ... and {len(skipped) - MAX_NAMED} more")


def _read_cache(path, current, say):
    """(images, labels, class names, skipped count) from the cache, or None if absent, out of date or
    unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
            if meta["fingerprint"] != current:
                say(f"cache {path} is out of date (files were added, removed or changed); decoding again")
                return None
            return archive["images"], archive["labels"], list(meta["class_names"]), meta["skipped"]
    except Exception as err:  # a damaged cache is not an error: decode the folder again
        say(f"cache {path} is unreadable ({type(err).__name__}: {err}); decoding the folder again")
        return None


def _write_cache(path, current, images, labels, class_names, n_skipped, say):
    """Write the cache atomically: a temporary file, then os.replace onto the final name."""
    meta = {"fingerprint": current, "class_names": class_names, "skipped": n_skipped,
            "version": CACHE_VERSION}
    meta = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)   # JSON bytes, no pickle
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels, meta=meta)
        os.replace(tmp, path)
    except OSError as err:  # a read-only cache folder must not stop training
        tmp.unlink(missing_ok=True)
        say(f"could not write the cache {path} ({err}); continuing without it")
        return
    say(f"  cached the decoded images in {path}")
