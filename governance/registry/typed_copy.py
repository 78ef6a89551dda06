"""The typed copy of a dataset: its parsed columns, written once at upload so workers never re-parse CSV.

What it holds: exactly the DataFrame ``pandas.read_csv(<the stored CSV>)`` gives (same columns and
order, dtypes, values, NaN), one array per column. It is made at upload from the uploaded bytes,
decoded again and compared with that DataFrame (``assert_frame_equal``, exact), and only written
if the two are identical; a frame it cannot represent exactly (a column of mixed Python types,
dates, a non-default index, strings that would take too much room at fixed width) gets no copy,
and the workers keep reading the CSV.

The format (``FORMAT_VERSION`` 1) is a sequence of standard NumPy ``.npy`` records (version 1.0
headers) and nothing else:

1. a one-element unicode array holding the JSON metadata: format version, the CSV's SHA-256,
   the row count, and for each column its name, its kind and the records that hold it;
2. per column one record of values; string columns add a boolean record of missing cells.

Column kinds: ``numpy`` (int, unsigned, float or bool: the values as they are), ``str``
(pandas' string dtype: fixed-width unicode, '' where missing, plus the mask), ``object_str``
and ``object_bool`` (an object column of strings, or of True/False, with NaN where missing).
Records are read with ``numpy.lib.format.read_array(allow_pickle=False)`` and any dtype that
holds Python objects is refused: nothing in the file is ever unpickled or run. A file can be
inspected with ``f = open(path, "rb"); numpy.load(f)`` repeatedly.

Integrity: the file's SHA-256 is recorded on the Dataset row at upload (``typed_sha256``) and
checked against the file each time the copy is read, before anything in it is parsed; the
metadata must also name the dataset's CSV digest, row count and column names. Any mismatch
raises ``TypedCopyError``, which fails the check or the warm-up with that reason. The reader
maps the file (no private copy): a change made to it in the milliseconds between the check and
the copy into the frame would not be seen, but making one needs write access to MEDIA_ROOT,
where the file is read-only, and that access could change the CSV or the artifacts too (which
workers do not re-hash either).

Storage is content-addressed and write-once like the blobs: ``datasets/<sha[:2]>/<csv sha>
.typed-v1.npys`` beside the CSV, written to a temporary file, made read-only and published with
``os.link`` (which never replaces an existing file), so concurrent writers cannot swap a file
under a recorded digest. The bytes are a pure function of the DataFrame, so two writers of the
same CSV produce the same file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .storage import write_once

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SUFFIX = f".typed-v{FORMAT_VERSION}.npys"
#: a copy is not written when it would be larger than this many times the CSV (plus a margin):
#: fixed-width unicode takes 4 bytes per character of the longest value in each column.
MAX_SIZE_FACTOR = 8
SIZE_MARGIN = 64 * 1024 * 1024


class TypedCopyUnsupported(ValueError):
    """The DataFrame cannot be stored exactly in the typed copy: keep reading the CSV."""


class TypedCopyError(Exception):
    """A recorded typed copy does not match what was recorded at upload (or cannot be read)."""


def typed_copy_relative(csv_sha256: str) -> str:
    return f"datasets/{csv_sha256[:2]}/{csv_sha256}{SUFFIX}"


# --- Encoding --------------------------------------------------------------------------------
def _is_nan(value) -> bool:
    return isinstance(value, float) and value != value


def _unicode(values: list[str], rows: int, budget: list[int]) -> np.ndarray:
    longest = max((len(v) for v in values), default=0)
    budget[0] -= 4 * max(longest, 1) * rows
    if budget[0] < 0:
        raise TypedCopyUnsupported("its strings would take too much room at fixed width")
    return np.array(values, dtype=f"<U{max(longest, 1)}")


def encode_frame(frame: pd.DataFrame, *, csv_sha256: str, csv_size: int) -> bytes:
    """The typed copy's bytes for ``frame`` (``pd.read_csv`` of the CSV); TypedCopyUnsupported if
    it cannot be stored exactly."""
    rows = len(frame)
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
        raise TypedCopyUnsupported("its index is not the default one")
    names = [str(name) for name in frame.columns]
    if list(frame.columns) != names or len(set(names)) != len(names):
        raise TypedCopyUnsupported("its column names are not distinct strings")
    budget = [MAX_SIZE_FACTOR * csv_size + SIZE_MARGIN]
    records: list[np.ndarray] = []
    columns = []
    for position, name in enumerate(names):
        series = frame.iloc[:, position]
        dtype = series.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iufb":
            kind = "numpy"
            arrays = [np.ascontiguousarray(series.to_numpy())]
        elif isinstance(dtype, pd.StringDtype) and dtype.storage == "python" and _is_nan(dtype.na_value):
            kind = "str"
            raw = series.to_numpy(dtype=object)
            mask = pd.isna(raw)
            values = ["" if missing else value for value, missing in zip(raw.tolist(), mask.tolist())]
            if not all(isinstance(v, str) for v in values):
                raise TypedCopyUnsupported(f"column {name!r} holds something other than strings")
            arrays = [_unicode(values, rows, budget), np.asarray(mask, dtype=bool)]
        elif isinstance(dtype, np.dtype) and dtype == object:
            raw = series.to_numpy().tolist()
            mask = [_is_nan(v) for v in raw]
            present = [v for v, missing in zip(raw, mask) if not missing]
            if all(type(v) is bool for v in present) and present:
                kind = "object_bool"
                arrays = [np.array([bool(v) and not missing for v, missing in zip(raw, mask)], dtype=bool),
                          np.array(mask, dtype=bool)]
            elif all(type(v) is str for v in present):
                kind = "object_str"
                values = ["" if missing else v for v, missing in zip(raw, mask)]
                arrays = [_unicode(values, rows, budget), np.array(mask, dtype=bool)]
            else:
                raise TypedCopyUnsupported(f"column {name!r} mixes Python types")
        else:
            raise TypedCopyUnsupported(f"column {name!r} has the dtype {dtype}")
        budget[0] -= sum(a.nbytes for a in arrays if a.dtype.kind != "U")
        if budget[0] < 0:
            raise TypedCopyUnsupported("it would be much larger than the CSV")
        columns.append({"name": name, "kind": kind, "records": len(arrays)})
        records.extend(arrays)
    meta = {
        "format": FORMAT_VERSION,
        "csv_sha256": csv_sha256,
        "rows": rows,
        "columns": columns,
    }
    out = io.BytesIO()
    np.lib.format.write_array(out, np.array([json.dumps(meta, ensure_ascii=True, sort_keys=True)]), version=(1, 0), allow_pickle=False)
    for array in records:
        np.lib.format.write_array(out, array, version=(1, 0), allow_pickle=False)
    data = out.getvalue()
    # Stored only if reading it back gives exactly the same DataFrame.
    try:
        pd.testing.assert_frame_equal(
            decode(data), frame, check_dtype=True, check_exact=True, check_column_type=True,
            check_index_type=True, check_names=True, check_flags=True,
        )
    except AssertionError as exc:
        raise TypedCopyUnsupported(f"reading it back does not give the same data ({str(exc).splitlines()[0]})") from exc
    return data


# --- Decoding --------------------------------------------------------------------------------
_NPY_V1 = b"\x93NUMPY\x01\x00"


def _read_record(data, offset: int) -> tuple[np.ndarray, int]:
    """The .npy record at ``offset`` of ``data`` (bytes or a mapped file) as a read-only view of
    it (no copy), and the offset after it. The header is parsed by NumPy's own reader
    (``read_magic``, ``read_array_header_1_0``); object dtypes are refused."""
    head = bytes(data[offset : offset + 10])
    if len(head) < 10 or head[:8] != _NPY_V1:
        raise TypedCopyError("a record of the typed copy is not a version 1.0 .npy record")
    header_end = offset + 10 + int.from_bytes(head[8:10], "little")
    stream = io.BytesIO(bytes(data[offset:header_end]))
    np.lib.format.read_magic(stream)
    shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    if dtype.hasobject or fortran_order or len(shape) != 1:
        raise TypedCopyError("a record of the typed copy is not a flat array of plain values")
    array = np.frombuffer(data, dtype=dtype, count=shape[0], offset=header_end)
    return array, header_end + array.nbytes


def read_meta(data) -> tuple[dict, int]:
    """The metadata of a typed copy and the offset of its first column record."""
    try:
        header, offset = _read_record(data, 0)
        meta = json.loads(str(header[0]))
    except TypedCopyError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever is wrong, it is not our file
        raise TypedCopyError(f"the typed copy cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise TypedCopyError(f"the typed copy is not format {FORMAT_VERSION}")
    return meta, offset


def decode(data: bytes) -> pd.DataFrame:
    """The DataFrame a typed copy holds (only call it on bytes whose digest was checked)."""
    meta, offset = read_meta(data)
    rows = meta["rows"]
    columns = {}
    try:
        for column in meta["columns"]:
            arrays = []
            for _ in range(column["records"]):
                array, offset = _read_record(data, offset)
                arrays.append(array)
            if any(len(a) != rows for a in arrays):
                raise TypedCopyError(f"column {column['name']!r} of the typed copy does not have {rows} rows")
            kind = column["kind"]
            if kind == "numpy":
                values = arrays[0]
            elif kind in ("str", "object_str", "object_bool"):
                values, mask = arrays[0].astype(object), arrays[1]
                if mask.dtype != bool:
                    raise TypedCopyError(f"the mask of column {column['name']!r} is not boolean")
                if mask.any():
                    values[mask] = np.nan
                if kind == "str":
                    values = pd.array(values, dtype=pd.StringDtype("python", na_value=np.nan))
                else:  # kept as object, not inferred as strings
                    values = pd.Series(values, index=pd.RangeIndex(rows), dtype=object, copy=False)
            else:
                raise TypedCopyError(f"column {column['name']!r} has an unknown kind {kind!r}")
            columns[column["name"]] = values
    except TypedCopyError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise TypedCopyError(f"the typed copy cannot be read ({type(exc).__name__}: {exc})") from exc
    if offset != len(data):
        raise TypedCopyError("the typed copy has data after its last column")
    # The dict's arrays are copied into the frame's own (writable) blocks.
    frame = pd.DataFrame(columns, index=pd.RangeIndex(rows), copy=True)
    if len(frame.columns) != len(meta["columns"]):
        raise TypedCopyError("the typed copy repeats a column name")
    return frame


# --- Storage ---------------------------------------------------------------------------------
def store(data: bytes, *, csv_sha256: str, media_root: Path) -> tuple[str, str] | None:
    """Publish the typed copy of a CSV (write-once); (relative path, its SHA-256), or None when a
    different file already holds that name (a copy made by other library versions: leave it)."""
    digest = hashlib.sha256(data).hexdigest()
    relative = typed_copy_relative(csv_sha256)
    target = Path(media_root) / relative
    write_once(target, data)
    existing = hashlib.sha256(target.read_bytes()).hexdigest()
    if existing != digest:
        logger.warning("A different typed copy already exists at %s; the dataset keeps reading its CSV.", relative)
        return None
    return relative, digest


def make(frame: pd.DataFrame, *, csv_sha256: str, csv_size: int, media_root: Path) -> tuple[str, str] | None:
    """Encode and store the typed copy of ``frame``; None (logged) if it cannot be made."""
    try:
        data = encode_frame(frame, csv_sha256=csv_sha256, csv_size=csv_size)
    except TypedCopyUnsupported as exc:
        logger.info("No typed copy for dataset %s: %s; it is read from its CSV.", csv_sha256[:12], exc)
        return None
    try:
        return store(data, csv_sha256=csv_sha256, media_root=media_root)
    except OSError as exc:
        logger.warning("Could not store the typed copy of dataset %s: %s", csv_sha256[:12], exc)
        return None


def load(*, path: Path, sha256: str, csv_sha256: str, rows: int, column_names: list[str]) -> pd.DataFrame:
    """Read a typed copy, checking its digest before parsing it and its metadata against the
    dataset's. Raises FileNotFoundError if it is missing, TypedCopyError if it does not match.

    The file is mapped rather than read into a new buffer: the digest and the decoder read the
    page cache directly and the frame gets the only copy (in a worker, fresh memory for a second
    copy cost more than the hashing).
    """
    import mmap

    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise TypedCopyError(f"it is empty, not the {sha256[:16]}… recorded at upload")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _load_mapped(mapped, sha256=sha256, csv_sha256=csv_sha256, rows=rows, column_names=column_names)
    finally:
        try:
            mapped.close()
        except BufferError:  # an exception on its way out still holds views of it: the GC unmaps it
            pass


def _load_mapped(data, *, sha256: str, csv_sha256: str, rows: int, column_names: list[str]) -> pd.DataFrame:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise TypedCopyError(
            f"its SHA-256 is {actual[:16]}…, not the {sha256[:16]}… recorded at upload: the file was changed or damaged"
        )
    meta, _ = read_meta(data)
    if meta.get("csv_sha256") != csv_sha256 or meta.get("rows") != rows:
        raise TypedCopyError("it was made from another CSV than the dataset's")
    if [c.get("name") for c in meta.get("columns", [])] != list(column_names):
        raise TypedCopyError("its columns are not the dataset's")
    return decode(data)
