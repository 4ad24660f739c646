"""4D light fields: a U x V grid of H x W RGB views, read from and written to the common
layouts.

- A folder of sub-aperture PNG views, named as HCI's benchmark does (``input_CamNNN.png``,
  row-major) or Lytro-style (``NAME_RR_CC.png``, ``view_RR_CC.png``; row and column, first
  index as found, usually 0 or 1). The grid comes from the names (HCI: a square of the
  view count) unless given.
- HDF5: a dataset of shape (U, V, H, W, 3), uint8 or uint16; the only such dataset of the
  file is found, or one is named.
- ``.npy`` of the same shape.
Writing follows the output path: a path ending with a separator or naming an existing
folder gets PNG views (named as the input's were, else ``view_RR_CC.png`` from 0); ``.npy``
an .npy file; ``.h5``/``.hdf5`` an HDF5 file (the input's dataset name, else
``lightfield``); no extension the input's kind and names. Any other extension is refused.
"""

import concurrent.futures
import dataclasses
import json
import math
import os
import re
import shutil
import tempfile

import numpy as np

from omnicodec import varint
from omnicodec.errors import InputError
from omnicodec.io.atomic import atomic_output

_HCI = re.compile(r"^input_Cam(\d+)\.png$", re.IGNORECASE)
_ROW_COLUMN = re.compile(r"^(.*?)_(\d+)_(\d+)\.png$", re.IGNORECASE)
_FILE_KINDS = {".npy": "npy", ".h5": "hdf5", ".hdf5": "hdf5"}  # file suffix -> Naming kind
FILE_SUFFIXES = tuple(_FILE_KINDS)
_SEPARATORS = tuple(sep for sep in (os.sep, os.altsep) if sep)
# zlib level of written PNG views: 1 (OpenCV's default too) writes a 9x9x512x512 light field
# in 1.1 s where Pillow's default 6 takes 4.5 s, for files 18% larger (same pixels).
PNG_COMPRESS_LEVEL = 1


@dataclasses.dataclass
class Naming:
    """How a light field's views were stored, so that output can match it.

    ``kind``: "hci", "rowcol", "hdf5" or "npy"; ``prefix`` and ``first`` (first row/column
    index) and ``digits`` for row/column names; ``digits`` for HCI; ``dataset`` for HDF5.
    """

    kind: str
    prefix: str = ""
    first: int = 0
    digits: int = 3
    dataset: str = ""


    def pack(self):
        """The naming as the light-field codecs' headers end with it: varint length, then
        its sorted JSON."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True).encode("ascii")
        return varint.encode([len(text)]) + text

    @classmethod
    def unpack(cls, header, pos):
        """Inverse of :meth:`pack` for the naming that ends ``header`` from ``pos``; raises
        ValueError, TypeError, UnicodeDecodeError or BitstreamError if it is not one."""
        (length,), pos = varint.decode(header, 1, pos)
        text = header[pos:pos + length]
        if len(text) != length or pos + length != len(header):
            raise ValueError("the naming does not end the header")
        return cls(**json.loads(text.decode("ascii")))


@dataclasses.dataclass
class LightField:
    views: np.ndarray  # (U, V, H, W, 3) uint8 or uint16
    naming: Naming

    @property
    def grid(self):
        return self.views.shape[:2]

    @property
    def pixels(self):
        """Samples per colour channel: U * V * H * W (the denominator of bits per pixel)."""
        u, v, h, w, _ = self.views.shape
        return u * v * h * w


def _checked_views(views, source):
    views = np.asarray(views)
    if views.ndim != 5 or views.shape[-1] != 3:
        raise InputError(f"{source}: a light field must have shape (U, V, H, W, 3), not {views.shape}")
    if views.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{source}: light-field samples must be uint8 or uint16, not {views.dtype}")
    if 0 in views.shape:
        raise InputError(f"{source}: the light field is empty (shape {views.shape})")
    return views


def _png_bit_depth(path):
    """Bits per sample from the PNG header (Pillow reads 16-bit RGB as 8-bit RGB)."""
    with open(path, "rb") as handle:
        head = handle.read(25)
    if len(head) == 25 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return head[24]
    return None


def _read_png(path):
    from PIL import Image

    if (_png_bit_depth(path) or 8) > 8:
        raise InputError(f"{path}: 16-bit PNG views are not supported (8-bit RGB only)")
    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode in ("I;16", "I;16B", "I;16L", "I") or image.info.get("bitdepth", 8) > 8:
                raise InputError(f"{path}: 16-bit PNG views are not supported (8-bit RGB only)")
            if mode != "RGB":
                raise InputError(f"{path}: view is {mode}, not RGB")
            return np.asarray(image, dtype=np.uint8)
    except InputError:
        raise
    except Exception as exc:  # PIL's many error types for a broken image
        raise InputError(f"{path}: not a readable PNG ({exc})") from None


def _grid_positions(names, grid):
    """{(row, column): file name} and the Naming of a folder's PNG names."""
    hci = {name: _HCI.match(name) for name in names}
    if any(hci.values()):
        indices = {int(m.group(1)): name for name, m in hci.items() if m}
        count = max(indices) + 1
        if grid is None:
            side = math.isqrt(count)
            if side * side != count:
                raise InputError(f"HCI views up to Cam{count - 1:03d} do not make a square grid: "
                                 "give the grid (--grid UxV)")
            grid = (side, side)
        rows, cols = grid
        digits = max(len(_HCI.match(n).group(1)) for n in indices.values())
        return ({(i // cols, i % cols): n for i, n in indices.items()}, (rows, cols),
                Naming("hci", digits=digits))
    matches = {name: _ROW_COLUMN.match(name) for name in names}
    found = {name: m for name, m in matches.items() if m}
    if not found:
        raise InputError("no light-field views found (input_CamNNN.png or NAME_RR_CC.png)")
    prefixes = {m.group(1) for m in found.values()}
    if len(prefixes) > 1:
        raise InputError(f"views of several light fields in one folder: {', '.join(sorted(prefixes))}")
    rows = {int(m.group(2)) for m in found.values()}
    cols = {int(m.group(3)) for m in found.values()}
    first = min(min(rows), min(cols))
    if grid is None:
        grid = (max(rows) - first + 1, max(cols) - first + 1)
    digits = max(len(m.group(2)) for m in found.values())
    positions = {(int(m.group(2)) - first, int(m.group(3)) - first): name for name, m in found.items()}
    return positions, grid, Naming("rowcol", prefix=prefixes.pop(), first=first, digits=digits)


def _read_folder(folder, grid):
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    if not names:
        raise InputError(f"{folder}: no PNG views in the folder")
    positions, (rows, cols), naming = _grid_positions(names, grid)
    missing = [(r, c) for r in range(rows) for c in range(cols) if (r, c) not in positions]
    if missing:
        shown = ", ".join(f"({r},{c})" for r, c in missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise InputError(f"{folder}: {len(missing)} of the {rows}x{cols} views are missing: {shown}")
    outside = [name for (r, c), name in positions.items() if r >= rows or c >= cols]
    if outside:
        raise InputError(f"{folder}: views outside the {rows}x{cols} grid: {', '.join(outside[:4])}")
    first = _read_png(os.path.join(folder, positions[(0, 0)]))
    views = np.empty((rows, cols, *first.shape), dtype=np.uint8)

    def read(position):
        name = positions[position]
        image = first if position == (0, 0) else _read_png(os.path.join(folder, name))
        if image.shape != first.shape:
            raise InputError(f"{folder}: view {name} is {image.shape[1]}x{image.shape[0]}, "
                             f"the others {first.shape[1]}x{first.shape[0]}")
        views[position] = image

    _each_view(read, positions)  # in name order: the first bad view by name is reported
    return views, naming


def _each_view(function, positions):
    """``function`` of every position, on as many threads as torch may use here (zlib
    releases the GIL; a batch worker's share of the cores, not the machine's). The first
    failure, in the order of ``positions``, is raised, and views not started are dropped."""
    import torch

    pool = concurrent.futures.ThreadPoolExecutor(torch.get_num_threads())
    try:
        list(pool.map(function, positions))
    finally:
        pool.shutdown(cancel_futures=True)


def _read_hdf5(path, dataset):
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({exc})") from None
    with handle:
        if dataset is None:
            candidates = []
            handle.visititems(lambda name, item: candidates.append(name) if isinstance(item, h5py.Dataset)
                              and item.ndim == 5 and item.shape[-1] == 3 else None)
            if len(candidates) != 1:
                found = "none" if not candidates else ", ".join(candidates)
                raise InputError(f"{path}: no single (U, V, H, W, 3) dataset (found: {found}); "
                                 "name one with --dataset")
            dataset = candidates[0]
        if dataset not in handle or not isinstance(handle[dataset], h5py.Dataset):
            raise InputError(f"{path}: no dataset {dataset!r}")
        return _checked_views(handle[dataset][()], f"{path}:{dataset}"), Naming("hdf5", dataset=dataset)


def read_lightfield(path, grid=None, dataset=None):
    """A :class:`LightField` from a folder of PNG views, an HDF5 file or an ``.npy`` file.
    ``grid`` (rows, columns) overrides the grid found from the names."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or folder")
    if os.path.isdir(path):
        views, naming = _read_folder(path, grid)
        return LightField(_checked_views(views, path), naming)
    lower = path.lower()
    if lower.endswith((".h5", ".hdf5")):
        return LightField(*_read_hdf5(path, dataset))
    if lower.endswith(".npy"):
        try:
            views = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{path}: not a readable .npy file ({exc})") from None
        return LightField(_checked_views(views, path), Naming("npy"))
    raise InputError(f"{path}: not a light field (a folder of PNG views, .h5/.hdf5 or .npy)")


def view_name(naming, row, col, columns):
    if naming.kind == "hci":
        return f"input_Cam{row * columns + col:0{naming.digits}d}.png"
    r, c = row + naming.first, col + naming.first
    return f"{naming.prefix}_{r:0{naming.digits}d}_{c:0{naming.digits}d}.png"


def _output_naming(path, naming):
    """The :class:`Naming` to write ``path`` with, by the rule of :func:`write_lightfield`."""
    if path.endswith(_SEPARATORS) or os.path.isdir(path):
        return naming if naming.kind in ("hci", "rowcol") else Naming("rowcol", prefix="view", digits=2)
    extension = os.path.splitext(path)[1].lower()
    if not extension:
        return naming
    if extension not in _FILE_KINDS:
        raise InputError(f"{path}: cannot write a light field as {extension}; give a folder "
                         f"(ending with {os.sep}), .npy, .h5/.hdf5, or no extension for the input's kind")
    kind = _FILE_KINDS[extension]
    return naming if naming.kind == kind else Naming(kind)


def write_lightfield(path, lightfield):
    """Write ``lightfield`` in the kind ``path`` asks for: a path ending with a separator or
    naming an existing folder gets PNG views (named as the input's were, else
    ``view_RR_CC.png`` from 0), in a new folder made whole before it takes the name and
    replaces any folder of PNG views there (a folder holding anything else is refused); ``.npy`` an .npy file, ``.h5``/``.hdf5`` an HDF5 file (the
    input's dataset name, else ``lightfield``), both atomically; no extension the input's
    kind. Any other extension (``.png``, ``.ply``...) is an InputError, nothing written."""
    from PIL import Image

    path = os.fspath(path)
    views, naming = _checked_views(lightfield.views, path), _output_naming(path, lightfield.naming)
    if naming.kind in ("hci", "rowcol"):
        if views.dtype != np.uint8:
            raise InputError(f"{path}: PNG views are written as 8-bit RGB; this light field is 16-bit "
                             "(write .npy or .h5)")
        path = path.rstrip("".join(_SEPARATORS)) or path
        if os.path.isdir(path):
            others = [name for name in os.listdir(path) if not name.lower().endswith(".png")
                      or not os.path.isfile(os.path.join(path, name))]
            if others:
                raise InputError(f"{path}: the folder holds more than PNG views ({others[0]}...); "
                                 "light-field views replace a folder whole: give a new one")
        parent = os.path.dirname(os.path.abspath(path))
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
        try:
            rows, cols = views.shape[:2]

            def write(position):
                r, c = position
                Image.fromarray(views[r, c]).save(os.path.join(staging, view_name(naming, r, c, cols)), format="PNG",
                                                  compress_level=PNG_COMPRESS_LEVEL)

            _each_view(write, [(r, c) for r in range(rows) for c in range(cols)])
            os.chmod(staging, 0o755)
            if os.path.isdir(path):  # the new folder takes the name, then the old one goes
                old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old.", dir=parent)
                os.replace(path, os.path.join(old, "views"))
                os.replace(staging, path)
                shutil.rmtree(old)
            else:
                os.replace(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    elif naming.kind == "hdf5":
        import h5py

        with atomic_output(path) as handle:
            with h5py.File(handle, "w") as out:
                out.create_dataset(naming.dataset or "lightfield", data=views)
    else:
        with atomic_output(path) as handle:
            np.save(handle, views, allow_pickle=False)
