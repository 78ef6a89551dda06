"""Safe intake of model artifacts and training/validation data sets.

Nothing in this module ever unpickles or runs submitted code:

* the artifact format is decided from the file's *content* (magic bytes and a
  tolerant look at the ONNX protobuf header), never from its name alone, and
  the name's extension must then agree with the content;
* pickle and joblib files (plain or compressed) are recognised and refused;
  recognising them uses :mod:`pickletools` (a disassembler that reads opcodes
  and executes nothing) and bounded decompression of a few bytes;
* skops files are audited with ``skops.io.get_untrusted_types`` and refused if
  anything beyond skops' default trusted types is needed; they are then
  loaded with ``trusted=[]`` so that nothing extra is trusted;
* ONNX files are parsed as protobuf, validated with ``onnx.checker`` and
  opened by onnxruntime (CPU provider only) to read their signature; models
  that reference external data files are refused, so that no path inside a
  submitted file is ever opened;
* an ONNX model is measured before onnxruntime sees it: the tensors it
  declares, and those its nodes would make from constants (ONNX shape
  inference, which computes shapes and never data), must each stay within
  ``max_tensor_elements``; onnxruntime then opens it with every graph
  optimisation off, because constant folding would allocate those tensors
  in the web process.

The functions take explicit arguments (no Django settings) and raise
:class:`IntakeError`, which carries an HTTP status, a machine code and the
form field it concerns, for the views and API to turn into responses.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import hashlib
import io
import json
import lzma
import os
import pickletools
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Iterable

from governance.errors import ActionError

__all__ = [
    "ACCEPTED_FORMATS_MESSAGE",
    "ACCEPTED_EXTENSIONS",
    "ArtifactInfo",
    "DatasetInfo",
    "IntakeError",
    "inspect_artifact",
    "inspect_dataset_csv",
    "resolve_input_schema",
    "sha256_file",
]

ACCEPTED_FORMATS_MESSAGE = (
    "Accepted artifact formats: ONNX (.onnx) and skops (.skops). Pickle and "
    "joblib files are never accepted because loading them runs code."
)

#: extension (lower case, with dot) -> format name
ACCEPTED_EXTENSIONS = {".onnx": "onnx", ".skops": "skops"}

_CHUNK = 1024 * 1024
_SNIFF_BYTES = 64 * 1024
#: a skops archive may not expand to more than this many times the size limit
_MAX_ZIP_EXPANSION = 10
#: default cap on the elements of one tensor of an ONNX model (64 MiB of float32)
DEFAULT_MAX_TENSOR_ELEMENTS = 1 << 24
#: initializer data larger than this is set aside during shape inference, which copies the
#: model several times over; shape inference needs the values of small shape tensors only
_INFERENCE_STRIP_BYTES = 1024 * 1024


class IntakeError(ActionError):
    """A submitted file or field is refused.

    ``status`` is 400 (bad content), 413 (too large) or 415 (unsupported
    format); ``code`` is a stable machine code; ``field`` names the form field
    concerned. ``str(err)`` is the human message.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int = 400,
        field: str = "artifact",
        details: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field
        #: extra machine-readable data, e.g. {"untrusted_types": [...]}
        self.details = details or {}

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message

    def __repr__(self) -> str:
        return f"IntakeError(code={self.code!r}, status={self.status}, field={self.field!r}, message={self.message!r})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "status": self.status,
            **({"details": self.details} if self.details else {}),
        }


@dataclass
class ArtifactInfo:
    format: str  # 'onnx' | 'skops'
    sha256: str
    size: int
    inputs: list[dict]  # [{"name", "type", "shape"}]
    outputs: list[dict]
    n_features: int | None
    single_tensor_input: bool
    model_class: str
    untrusted_types: list[str] = dc_field(default_factory=list)
    #: skops only: ``feature_names_in_`` of the estimator, if it has one
    feature_names: list[str] | None = None


@dataclass
class DatasetInfo:
    sha256: str
    size: int
    rows: int
    columns: list[dict]  # [{"name", "type"}], type in integer/float/string/boolean
    target: str | None
    #: the data as ``pd.read_csv`` (default options) gives it; parsed once, at intake
    frame: Any = dc_field(default=None, repr=False, compare=False)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_hashed(path: Path, size: int) -> tuple[bytes, str]:
    """Read the whole (size-checked) file, hashing it chunk by chunk.

    Reads at most ``size`` bytes, so a file growing after the size check
    cannot make us read more than was checked."""
    h = hashlib.sha256()
    parts = []
    remaining = size
    with open(path, "rb") as fh:
        while remaining > 0:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                break
            h.update(chunk)
            parts.append(chunk)
            remaining -= len(chunk)
    return b"".join(parts), h.hexdigest()


def _human_size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


def _check_size(path: Path, max_bytes: int, field: str, what: str) -> int:
    size = os.stat(path).st_size  # a missing file is the caller's bug: OSError
    if size == 0:
        raise IntakeError(f"The uploaded {what} is empty (0 bytes).", code="empty_file", field=field)
    if max_bytes is not None and size > max_bytes:
        raise IntakeError(
            f"The uploaded {what} is {_human_size(size)}, over the limit of {_human_size(max_bytes)}.",
            code="too_large",
            status=413,
            field=field,
        )
    return size


def _extension(filename: str) -> str:
    base = re.split(r"[\\/]", filename or "")[-1]
    return os.path.splitext(base)[1].lower()


def _unsupported(detail: str, field: str) -> IntakeError:
    return IntakeError(f"{detail} {ACCEPTED_FORMATS_MESSAGE}", code="unsupported_format", status=415, field=field)


def _corrupt(detail: str, field: str) -> IntakeError:
    return IntakeError(detail, code="corrupt_artifact", status=400, field=field)


# --------------------------------------------------------------------------
# content sniffing
# --------------------------------------------------------------------------

_PICKLE_START_OPCODES = set(b"(]}clIFSVNTUXJKM")


def _looks_like_pickle(data: bytes) -> bool:
    """True if ``data`` starts like a pickle stream. Executes nothing."""
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return True
    if not data or data[0] not in _PICKLE_START_OPCODES:
        return False
    # protocol 0/1: disassemble (pickletools never builds objects) and
    # require a clean run of opcodes ending in STOP.
    try:
        for opcode, _arg, _pos in pickletools.genops(io.BytesIO(data)):
            if opcode.name == "STOP":
                return True
    except Exception:
        return False
    return False


def _decompress_head(data: bytes) -> tuple[str | None, bytes]:
    """Name of the compression and (at most) the first 64 bytes it expands to."""
    try:
        if data[:2] == b"\x1f\x8b":
            return "gzip", zlib.decompressobj(wbits=31).decompress(data[:4096], 64)
        if data[:3] == b"BZh":
            return "bzip2", bz2.BZ2Decompressor().decompress(data[:4096], max_length=64)
        if data[:6] == b"\xfd7zXZ\x00":
            return "xz", lzma.LZMADecompressor().decompress(data[:4096], max_length=64)
        if data[:4] == b"\x04\x22\x4d\x18":
            return "lz4", b""
        if data[:4] == b"\x28\xb5\x2f\xfd":
            return "zstd", b""
        if data[:2] == b"ZF":  # joblib's old zlib container
            return "joblib-zlib", b"\x80\x02"
        if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
            return "zlib", zlib.decompressobj().decompress(data[:4096], 64)
    except Exception:
        return None, b""
    return None, b""


# ModelProto fields: number -> protobuf wire type
_ONNX_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 21: 2, 25: 2}


def _read_varint(data: bytes, pos: int) -> tuple[int | None, int]:
    value = shift = 0
    while pos < len(data) and shift < 70:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    return None, pos


def _looks_like_onnx(data: bytes) -> bool:
    """Tolerant look at the start of a serialized ``onnx.ModelProto``.

    Serializers write fields in number order, so a model starts with
    ``ir_version`` (field 1, varint). The next few fields must be valid
    ModelProto fields; a length running past the end of the data is accepted
    (a truncated file is still recognised as ONNX, and reported as corrupt).
    """
    if len(data) < 2 or data[0] != 0x08:
        return False
    ir_version, pos = _read_varint(data, 1)
    if ir_version is None or not 1 <= ir_version <= 64:
        return False
    seen = 1
    while pos < len(data) and seen < 6:
        tag, pos = _read_varint(data, pos)
        if tag is None:
            return True  # truncated inside a tag
        number, wire = tag >> 3, tag & 7
        if _ONNX_MODEL_FIELDS.get(number) != wire:
            return False
        if wire == 0:
            value, pos = _read_varint(data, pos)
            if value is None:
                return True
        else:
            length, pos = _read_varint(data, pos)
            if length is None:
                return True
            if number in (2, 3, 4) and pos + length <= len(data):
                try:  # producer name / version / domain are short text
                    data[pos : pos + length].decode("utf-8")
                except UnicodeDecodeError:
                    return False
            pos += length
        seen += 1
    return True


_ZIP_LOCAL = b"PK\x03\x04"


def _zip_local_names(data: bytes, limit: int = 50) -> list[str]:
    """File names from local headers, walking from the start (works on truncated zips)."""
    names = []
    pos = 0
    while len(names) < limit and data[pos : pos + 4] == _ZIP_LOCAL and pos + 30 <= len(data):
        flags, _method, _t, _d, _crc, csize, _usize, nlen, xlen = struct.unpack(
            "<HHHHIIIHH", data[pos + 6 : pos + 30]
        )
        name = data[pos + 30 : pos + 30 + nlen].decode("utf-8", "replace")
        names.append(name)
        if flags & 0x08:  # sizes in a data descriptor: cannot walk further
            break
        pos += 30 + nlen + xlen + csize
    return names


def _looks_like_skops_names(names: Iterable[str]) -> bool:
    names = list(names)
    return bool(names) and (
        "schema.json" in names or all(re.fullmatch(r"[\w.-]+\.(npy|json)", n) for n in names)
    )


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _sniff(path: Path, head: bytes, field: str) -> str:
    """Return 'onnx', 'skops' or 'zip-corrupt'; raise 415 for anything else."""
    if _looks_like_pickle(head):
        raise _unsupported(
            "This file looks like a pickle/joblib file (Python pickle data).", field
        )
    compression, inner = _decompress_head(head)
    if compression:
        if compression == "joblib-zlib" or _looks_like_pickle(inner):
            detail = f"This file looks like a compressed pickle/joblib file ({compression})."
        else:
            detail = f"This file is {compression}-compressed data, not a model artifact."
        raise _unsupported(detail, field)
    if head[:4] in (_ZIP_LOCAL, b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return "zip-corrupt"
        if "schema.json" in names:
            return "skops"
        if any(n.endswith((".pkl", ".pickle", ".joblib")) or n.endswith("data.pkl") for n in names):
            raise _unsupported(
                "This file is a zip archive holding pickle data (for example a PyTorch "
                "checkpoint); it looks like a pickle/joblib container.",
                field,
            )
        raise _unsupported("This file is a zip archive but not a skops file (it has no schema.json).", field)
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        raise _unsupported("This file is an HDF5 file (for example a Keras .h5 model).", field)
    if head[:6] == b"\x93NUMPY":
        raise _unsupported("This file is a NumPy .npy array, not a model.", field)
    if _looks_like_onnx(head):
        return "onnx"
    if _looks_like_text(head):
        raise _unsupported("This file is a text file, not a model artifact.", field)
    raise _unsupported("The file's content is not a recognised model format.", field)


# --------------------------------------------------------------------------
# artifacts
# --------------------------------------------------------------------------


def inspect_artifact(
    path: str | Path,
    filename: str,
    *,
    max_bytes: int,
    max_tensor_elements: int = DEFAULT_MAX_TENSOR_ELEMENTS,
    field: str = "artifact",
) -> ArtifactInfo:
    """Identify, validate and describe an uploaded model artifact.

    Raises :class:`IntakeError` with codes ``empty_file`` (400),
    ``too_large`` (413), ``unsupported_format`` (415), ``corrupt_artifact``
    (400), ``tensor_too_large`` (400, an ONNX tensor past
    ``max_tensor_elements``) or ``untrusted_types`` (400).
    """
    path = Path(path)
    size = _check_size(path, max_bytes, field, "artifact")
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)

    detected = _sniff(path, head, field)
    ext = _extension(filename)
    expected = ACCEPTED_EXTENSIONS.get(ext)
    if expected is None:
        shown = ext or "no extension"
        raise _unsupported(f"The file name {filename!r} has an unsupported extension ({shown}).", field)

    if detected == "zip-corrupt":
        if expected == "skops":
            raise _corrupt(
                "The skops file is damaged or truncated: its zip archive cannot be read. "
                "Upload the complete file again.",
                field,
            )
        if _looks_like_skops_names(_zip_local_names(head)):
            raise _unsupported(
                f"The file is named {ext} but its content is a (damaged) skops file.", field
            )
        raise _unsupported("This file is a damaged zip archive, not a model artifact.", field)

    if detected != expected:
        what = {"onnx": "an ONNX model", "skops": "a skops file"}[detected]
        raise _unsupported(
            f"The file is named {ext} but its content is {what}; the extension must match the "
            f"content (rename it to .{detected} if that is what you meant).",
            field,
        )

    if detected == "onnx":
        data, digest = _read_hashed(path, size)
        return _inspect_onnx(data, digest, size, field, max_tensor_elements)
    digest = sha256_file(path)
    return _inspect_skops(path, digest, size, max_bytes, field)


_ONNX_TYPE_RE = re.compile(r"tensor\((\w+)\)")


def _shape(shape: Any) -> list:
    if shape is None:
        return []
    return [d if isinstance(d, (int, str)) or d is None else str(d) for d in shape]


def _inspect_onnx(data: bytes, digest: str, size: int, field: str, max_elements: int) -> ArtifactInfo:
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:
        raise _corrupt(
            f"The ONNX file is damaged or truncated and cannot be parsed ({type(exc).__name__}).", field
        ) from exc

    from onnx.external_data_helper import _get_all_tensors

    for tensor in _get_all_tensors(model):
        if tensor.HasField("data_location") and tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise _corrupt(
                "The ONNX model stores weights in external data files; upload a single "
                "self-contained .onnx file.",
                field,
            )
    _check_onnx_declared_tensors(model, max_elements, field)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise _corrupt(f"The ONNX model is not valid: {msg}", field) from exc
    _check_onnx_inferred_shapes(model, max_elements, field)

    import onnxruntime as ort

    opts = ort.SessionOptions()
    # No constant folding or any other rewrite: with them onnxruntime computes constant
    # subgraphs while it loads, so a tiny file can make it allocate without bound. Loading
    # unoptimised only reads the initializers, which are in the (size-checked) file.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise _corrupt(f"onnxruntime cannot load this ONNX model: {msg}", field) from exc

    inputs = [{"name": i.name, "type": i.type, "shape": _shape(i.shape)} for i in sess.get_inputs()]
    outputs = [{"name": o.name, "type": o.type, "shape": _shape(o.shape)} for o in sess.get_outputs()]
    if not inputs:
        raise _corrupt("The ONNX model has no inputs.", field)

    single = len(inputs) == 1 and len(inputs[0]["shape"]) == 2
    n_features: int | None = None
    if single:
        width = inputs[0]["shape"][1]
        n_features = width if isinstance(width, int) and width > 0 else None
    elif len(inputs) > 1 and all(_is_one_feature(i["shape"]) for i in inputs):
        n_features = len(inputs)  # one named input per feature

    graph_name = model.graph.name or "graph"
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    model_class = f"{graph_name} ({producer})" if producer else graph_name

    return ArtifactInfo(
        format="onnx",
        sha256=digest,
        size=size,
        inputs=inputs,
        outputs=outputs,
        n_features=n_features,
        single_tensor_input=single,
        model_class=model_class[:255],
        untrusted_types=[],
    )


def _elements(dims: Iterable[int]) -> int:
    """The product of the dims, stopping once past 2**64: a model may declare a million dims."""
    count = 1
    for d in dims:
        count *= max(int(d), 0)
        if count > 1 << 64:
            break
    return count


def _dims_text(dims: list) -> str:
    shown = " × ".join(str(d) for d in dims[:8]) + (f" × … ({len(dims)} dims)" if len(dims) > 8 else "")
    return shown or "a scalar"


def _too_large_tensor(what: str, dims: list, limit: int, field: str) -> IntakeError:
    count = _elements(dims)
    count_text = f"{count:,}" if count <= 1 << 64 else f"more than {1 << 64:,}"
    return IntakeError(
        f"In the ONNX model, {what} of shape {_dims_text(dims)} = {count_text} elements, over the "
        f"limit of {limit:,} elements per tensor. Models that declare or build tensors this large "
        "are refused at upload.",
        code="tensor_too_large",
        status=400,
        field=field,
        details={"limit": limit, "shape": [int(d) for d in dims[:16]]},
    )


def _stored_elements(tensor: Any) -> int:
    """How many values a TensorProto actually carries (raw bytes count one per byte: a bound)."""
    if tensor.raw_data:
        return len(tensor.raw_data)
    return max(
        len(tensor.float_data), len(tensor.int32_data), len(tensor.string_data),
        len(tensor.int64_data), len(tensor.double_data), len(tensor.uint64_data),
    )


def _graphs(graph: Any) -> Iterable[Any]:
    """A graph and every subgraph in its nodes' attributes (If/Loop/Scan bodies)."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _node_name(node: Any) -> str:
    return f"{node.name!r} ({node.op_type})" if node.name else f"of type {node.op_type}"


def _check_onnx_declared_tensors(model: Any, limit: int, field: str) -> None:
    """Refuse a tensor of more than ``limit`` elements whose values are not in the file.

    Two places a tensor's size is declared without its data being paid for in the upload: a
    tensor whose dims promise more values than it stores (an initializer, a ``Constant``'s or
    ``ConstantOfShape``'s value), and a sparse tensor (runtimes make it dense). Tensors that
    do store their values are bounded by the artifact size limit and not held to this one.
    Runs before ``onnx.checker`` so that the refusal names the tensor and the limit.
    """
    from onnx.external_data_helper import _get_all_tensors

    for graph in _graphs(model.graph):
        for sparse in graph.sparse_initializer:
            if _elements(sparse.dims) > limit:
                what = f"the sparse initializer {sparse.values.name!r} is a tensor"
                raise _too_large_tensor(what, list(sparse.dims), limit, field)
        for node in graph.node:
            for attr in node.attribute:
                sparses = ([attr.sparse_tensor] if attr.HasField("sparse_tensor") else []) + list(attr.sparse_tensors)
                for sparse in sparses:
                    if _elements(sparse.dims) > limit:
                        what = f"node {_node_name(node)} holds a sparse tensor"
                        raise _too_large_tensor(what, list(sparse.dims), limit, field)
                tensors = ([attr.t] if attr.HasField("t") else []) + list(attr.tensors)
                for tensor in tensors:
                    declared = _elements(tensor.dims)
                    if declared > limit and declared > 2 * _stored_elements(tensor):
                        what = f"node {_node_name(node)} declares a constant"
                        raise _too_large_tensor(what, list(tensor.dims), limit, field)
    for tensor in _get_all_tensors(model):
        declared = _elements(tensor.dims)
        # Twice what is stored: packed 4-bit types hold two values a byte.
        if declared > limit and declared > 2 * _stored_elements(tensor):
            raise _too_large_tensor(f"the tensor {tensor.name!r} is declared", list(tensor.dims), limit, field)


def _check_onnx_inferred_shapes(model: Any, limit: int, field: str) -> None:
    """Refuse a model whose nodes would make a tensor of more than ``limit`` elements.

    ONNX shape inference works the shapes of the values out from the constant inputs
    (``ConstantOfShape`` of a constant shape, ``Expand``, ``Tile``, ``Range``...) without
    computing any data. A shape known only at run time (from the input's values) is not
    caught here; loading without constant folding keeps intake safe from those.
    """
    import onnx
    from onnx.external_data_helper import _get_all_tensors

    # Shape inference copies the model a few times: set large initializer data aside meanwhile.
    stripped = []
    for tensor in _get_all_tensors(model):
        if len(tensor.raw_data) > _INFERENCE_STRIP_BYTES:
            stripped.append((tensor, tensor.raw_data))
            tensor.ClearField("raw_data")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise _corrupt(f"The shapes of the ONNX model's tensors cannot be worked out: {msg}", field) from exc
    finally:
        for tensor, raw in stripped:
            tensor.raw_data = raw

    for graph in _graphs(inferred.graph):
        made_by = {out: node for node in graph.node for out in node.output}
        for value in (*graph.input, *graph.output, *graph.value_info):
            if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
                continue
            # Symbolic dimensions (a batch size) are not known until run time: counted as 1.
            dims = [d.dim_value if d.HasField("dim_value") else 1 for d in value.type.tensor_type.shape.dim]
            if _elements(dims) > limit:
                node = made_by.get(value.name)
                what = (
                    f"node {_node_name(node)} would make a tensor {value.name!r}"
                    if node is not None
                    else f"the graph declares a tensor {value.name!r}"
                )
                raise _too_large_tensor(what, dims, limit, field)


def _is_one_feature(shape: list) -> bool:
    if len(shape) == 1:
        return True
    return len(shape) == 2 and not (isinstance(shape[1], int) and shape[1] != 1)


def _inspect_skops(path: Path, digest: str, size: int, max_bytes: int, field: str) -> ArtifactInfo:
    # Zip bomb guard: skops reads every member into memory.
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            expanded = sum(i.file_size for i in infos)
            schema_raw = zf.read("schema.json") if expanded <= _MAX_ZIP_EXPANSION * max(max_bytes, 1) else None
    except Exception as exc:
        raise _corrupt("The skops file is damaged or truncated: its zip archive cannot be read.", field) from exc
    if schema_raw is None:
        raise IntakeError(
            f"The skops archive expands to {_human_size(expanded)}, over the limit of "
            f"{_human_size(_MAX_ZIP_EXPANSION * max_bytes)}.",
            code="too_large",
            status=413,
            field=field,
        )
    try:
        json.loads(schema_raw)
    except Exception as exc:
        raise _corrupt("The skops file is damaged: its schema.json is not valid JSON.", field) from exc

    import skops.io as sio

    try:
        untrusted = list(sio.get_untrusted_types(file=str(path)))
    except Exception as exc:
        raise _corrupt(
            f"The skops file is damaged or was written by an incompatible skops version "
            f"({type(exc).__name__}: {str(exc)[:200]}).",
            field,
        ) from exc
    if untrusted:
        shown = ", ".join(untrusted[:20]) + (f" and {len(untrusted) - 20} more" if len(untrusted) > 20 else "")
        raise IntakeError(
            f"The skops file needs types that are not trusted and will not be loaded: {shown}. "
            "Only scikit-learn, NumPy and SciPy types trusted by skops are accepted; custom "
            "functions and classes are refused because loading them could run code.",
            code="untrusted_types",
            status=400,
            field=field,
            details={"untrusted_types": untrusted},
        )

    try:
        obj = sio.load(str(path), trusted=[])
    except Exception as exc:
        raise _corrupt(
            f"The skops file could not be loaded ({type(exc).__name__}: {str(exc)[:200]}).", field
        ) from exc

    cls = type(obj)
    model_class = f"{cls.__module__}.{cls.__qualname__}"
    if not callable(getattr(obj, "predict", None)):
        raise _unsupported(
            f"The skops file holds a {model_class} object, not a model with a predict() method.", field
        )

    n_features = getattr(obj, "n_features_in_", None)
    n_features = int(n_features) if isinstance(n_features, (int,)) or _is_np_int(n_features) else None
    names_attr = getattr(obj, "feature_names_in_", None)
    feature_names = [str(n) for n in names_attr] if names_attr is not None else None

    if feature_names:
        inputs = [{"name": n, "type": None, "shape": [None]} for n in feature_names]
    else:
        inputs = [{"name": "X", "type": None, "shape": [None, n_features]}]

    outputs: list[dict] = [{"name": "predict", "type": None, "shape": [None]}]
    classes = getattr(obj, "classes_", None)
    if callable(getattr(obj, "predict_proba", None)) and classes is not None:
        try:
            outputs.append({"name": "predict_proba", "type": "float", "shape": [None, len(classes)]})
        except TypeError:  # pragma: no cover
            pass

    return ArtifactInfo(
        format="skops",
        sha256=digest,
        size=size,
        inputs=inputs,
        outputs=outputs,
        n_features=n_features,
        single_tensor_input=not feature_names,
        model_class=model_class,
        untrusted_types=[],
        feature_names=feature_names,
    )


def _is_np_int(value: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, np.integer)


# --------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------

_ONNX_TYPE_NAMES = {
    "tensor(float)": "float",
    "tensor(double)": "double",
    "tensor(int64)": "int64",
    "tensor(string)": "string",
    "tensor(bool)": "boolean",
}


def _onnx_type_name(t: str | None) -> str:
    if not t:
        return "unknown"
    if t in _ONNX_TYPE_NAMES:
        return _ONNX_TYPE_NAMES[t]
    m = _ONNX_TYPE_RE.fullmatch(t)
    return m.group(1) if m else t


def _list_names(names: Iterable[str], limit: int = 10) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def resolve_input_schema(
    info: ArtifactInfo,
    training_columns: list[str] | list[dict],
    target: str | None,
) -> list[dict]:
    """The model's input schema, ``[{"name", "type"}]`` in feature order.

    ``training_columns`` are the training data set's columns, either as names
    or as ``{"name", "type"}`` dicts (``DatasetInfo.columns``); the feature
    columns are those other than ``target``, in their order. Types come from
    the ONNX tensor types (``float``, ``double``, ``int64``, ``string``,
    ``boolean``...) or, for skops, from the data set column types
    (``integer``, ``float``, ``string``, ``boolean``; ``unknown`` when only
    names were given). Raises ``schema_mismatch`` (field
    ``training_dataset``) or ``missing_target`` (field ``target``).
    """
    col_types: dict[str, str] = {}
    names: list[str] = []
    for col in training_columns:
        if isinstance(col, dict):
            names.append(col["name"])
            col_types[col["name"]] = col.get("type") or "unknown"
        else:
            names.append(str(col))
            col_types[str(col)] = "unknown"

    if target is not None and target not in names:
        raise IntakeError(
            f"The target column {target!r} is not a column of the training data set "
            f"(columns: {_list_names(names, 30)}).",
            code="missing_target",
            field="target",
        )
    features = [n for n in names if n != target]
    if not features:
        raise IntakeError(
            "The training data set has no feature columns besides the target.",
            code="schema_mismatch",
            field="training_dataset",
        )

    def mismatch(msg: str) -> IntakeError:
        return IntakeError(msg, code="schema_mismatch", field="training_dataset")

    def set_diff_message(model_names: list[str], what: str) -> str:
        missing = [n for n in model_names if n not in features]
        extra = [n for n in features if n not in model_names]
        parts = [f"The {what} do not match the training data set's feature columns."]
        if missing:
            parts.append(f"Expected by the model but missing from the data set: {_list_names(missing)}.")
        if extra:
            parts.append(f"In the data set but not expected by the model: {_list_names(extra)}.")
        if not missing and not extra:
            parts.append(
                f"The columns are the same but in a different order; the model expects: {_list_names(model_names, 30)}."
            )
        return " ".join(parts)

    if info.format == "onnx":
        if info.single_tensor_input:
            width = info.n_features
            if width is not None and width != len(features):
                raise mismatch(
                    f"The model's input tensor {info.inputs[0]['name']!r} has {width} features but the "
                    f"training data set has {len(features)} feature columns "
                    f"({len(names)} columns{' minus the target' if target else ''})."
                )
            t = _onnx_type_name(info.inputs[0].get("type"))
            return [{"name": n, "type": t} for n in features]
        model_names = [i["name"] for i in info.inputs]
        if set(model_names) != set(features):
            raise mismatch(set_diff_message(model_names, "model's inputs"))
        types = {i["name"]: _onnx_type_name(i.get("type")) for i in info.inputs}
        return [{"name": n, "type": types[n]} for n in features]

    # skops
    if info.feature_names:
        if list(info.feature_names) != features:
            raise mismatch(set_diff_message(list(info.feature_names), "model's feature names (feature_names_in_)"))
    elif info.n_features is not None and info.n_features != len(features):
        raise mismatch(
            f"The model expects {info.n_features} features (n_features_in_) but the training "
            f"data set has {len(features)} feature columns "
            f"({len(names)} columns{' minus the target' if target else ''})."
        )
    return [{"name": n, "type": col_types[n]} for n in features]


# --------------------------------------------------------------------------
# data sets
# --------------------------------------------------------------------------


#: the cells pandas reads as missing by default (``pandas.read_csv``'s ``na_values``)
_NA_TOKENS = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)
_INTEGER_TOKEN = re.compile(r"\s*[+-]?[0-9]+\s*")


class _HashingReader(io.RawIOBase):
    """Reads at most ``limit`` bytes of a file, hashing them on the way (for one streamed pass).

    At most ``limit``: a file growing after the size check cannot make us read more than was
    checked."""

    def __init__(self, handle, limit: int):
        self._handle = handle
        self._remaining = limit
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._remaining <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._remaining)]
        count = self._handle.readinto(view)
        if count:
            self.sha256.update(view[:count])
            self._remaining -= count
        return count or 0


def _bad_encoding(path: Path, size: int, field: str) -> IntakeError:
    """Where the first byte that is not UTF-8 is (offset in the file, line), read chunk by chunk."""
    base = lines = 0
    pending = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(min(_CHUNK, size - base - len(pending)))
            data = pending + chunk
            try:
                _text, used = codecs.utf_8_decode(data, "strict", not chunk)
            except UnicodeDecodeError as exc:
                pos = base + exc.start
                line = lines + data.count(b"\n", 0, exc.start) + 1
                return IntakeError(
                    f"The data set is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {pos} (line {line}) "
                    "cannot be decoded. Save the file as UTF-8 CSV and upload it again.",
                    code="bad_encoding",
                    field=field,
                )
            lines += data.count(b"\n", 0, used)
            base += used
            pending = data[used:]
            if not chunk:  # pragma: no cover - the caller saw a decoding error
                return IntakeError("The data set is not valid UTF-8.", code="bad_encoding", field=field)


def _column_type(column: Any, integer_tokens: bool) -> str:
    """The column's type as the API reports it: integer, float, string or boolean.

    ``column`` is as ``pd.read_csv`` gives it with its default options (the frame the workers
    use). Those options read an integer column with missing cells as float and a boolean one
    as object; ``integer_tokens`` (every present cell is an integer literal, seen while the
    CSV was checked) and the values say which it was, as pandas' nullable types would.
    """
    import numpy as np
    import pandas as pd

    present = column.dropna()
    if present.empty:
        return "string"
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "integer" if integer_tokens and len(present) < len(column) else "float"
    if dtype == object and all(isinstance(v, (bool, np.bool_)) for v in present):
        return "boolean"
    return "string"


def inspect_dataset_csv(
    path: str | Path,
    *,
    target: str | None,
    max_bytes: int,
    field: str = "file",
) -> DatasetInfo:
    """Validate a UTF-8 CSV data set, infer its column types and parse it, once.

    One streamed pass in constant memory hashes the bytes, decodes them and checks the CSV's
    structure with the csv module (a header, no blank or duplicate names, as many fields on
    every line); then ``pd.read_csv`` with its default options parses the file once. That
    frame (``DatasetInfo.frame``) gives the row count and the column types, and is the one
    the typed copy stores: it is what the workers' ``pd.read_csv`` of the stored CSV gives.

    Raises :class:`IntakeError` with codes ``empty_file``, ``too_large``
    (413), ``bad_encoding``, ``bad_csv`` or ``missing_target`` (field
    ``target``); the others concern ``field``.
    """
    path = Path(path)
    size = _check_size(path, max_bytes, field, "data set")

    with open(path, "rb") as handle:
        raw = _HashingReader(handle, size)
        # utf-8-sig drops a leading BOM; newline="" hands every line ending to the csv module.
        text = io.TextIOWrapper(io.BufferedReader(raw, _CHUNK), encoding="utf-8-sig", newline="")
        try:
            header, rows, integer_tokens = _check_csv_structure(csv.reader(text, strict=True), field)
        except UnicodeDecodeError:
            raise _bad_encoding(path, size, field) from None
        digest = raw.sha256.hexdigest()

    if target is not None and target not in header:
        raise IntakeError(
            f"The target column {target!r} is not in the data set (columns: {_list_names(header, 30)}).",
            code="missing_target",
            field="target",
        )

    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pragma: no cover - the csv module checked the structure
        raise IntakeError(f"The CSV cannot be parsed: {exc}.", code="bad_csv", field=field) from exc
    if list(frame.columns) != header or len(frame) != rows:  # pragma: no cover - defensive
        raise IntakeError(
            "The CSV could not be read consistently (check quoting).", code="bad_csv", field=field
        )
    columns = [
        {"name": name, "type": _column_type(frame[name], integer_tokens[index])}
        for index, name in enumerate(header)
    ]
    return DatasetInfo(sha256=digest, size=size, rows=rows, columns=columns, target=target, frame=frame)


def _check_csv_structure(reader, field: str) -> tuple[list[str], int, list[bool]]:
    """The header, the number of data rows and, per column, whether every present cell is an
    integer literal; IntakeError for an empty file or a CSV that is not a table."""
    try:
        header = next(reader)
        while header == []:  # leading blank lines
            header = next(reader)
    except StopIteration:
        raise IntakeError("The data set is empty.", code="empty_file", field=field) from None
    except csv.Error as exc:
        raise IntakeError(f"The CSV header cannot be parsed: {exc}.", code="bad_csv", field=field) from exc

    blank = [i + 1 for i, name in enumerate(header) if not name.strip()]
    if len(blank) == len(header) and not any(any(cell.strip() for cell in row) for row in reader):
        raise IntakeError("The data set is empty.", code="empty_file", field=field)
    if blank:
        raise IntakeError(
            f"The CSV header has blank column names (column {', '.join(map(str, blank[:10]))}).",
            code="bad_csv",
            field=field,
        )
    seen: set[str] = set()
    dups: list[str] = []
    for name in header:
        if name in seen and name not in dups:
            dups.append(name)
        seen.add(name)
    if dups:
        raise IntakeError(
            f"The CSV header has duplicate column names: {_list_names(dups)}.", code="bad_csv", field=field
        )

    width = len(header)
    integer_tokens = [True] * width
    # Columns still made of integer literals only; most columns leave this list on their first row.
    candidates = list(range(width))
    rows = 0
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise IntakeError(
                    f"Line {reader.line_num} of the CSV has {len(row)} fields but the header has {width}.",
                    code="bad_csv",
                    field=field,
                )
            rows += 1
            if candidates:
                for index in candidates:
                    cell = row[index]
                    if cell.isascii() and cell.isdigit() or cell in _NA_TOKENS:
                        continue
                    if not _INTEGER_TOKEN.fullmatch(cell):
                        integer_tokens[index] = False
                if not all(integer_tokens[index] for index in candidates):
                    candidates = [index for index in candidates if integer_tokens[index]]
    except csv.Error as exc:
        raise IntakeError(
            f"The CSV cannot be parsed at line {reader.line_num}: {exc}.", code="bad_csv", field=field
        ) from exc
    if rows == 0:
        raise IntakeError("The CSV has a header but no data rows.", code="bad_csv", field=field)
    return header, rows, integer_tokens
