"""The embedded weights in another quantisation, derived once from the shipped file and cached.

llama.cpp repacks some quantisation types (Q4_0, Q8_0, IQ4_NL) into interleaved blocks for its AVX2/AVX-512
and NEON kernels, and runs the others (Q4_1, the shipped file's type) through a generic path that processes
prompts several times slower. `derived_gguf` rewrites the shipped GGUF's Q4_1 tensors in a faster type with the
`gguf` package (dequantise, requantise; every other tensor and all metadata copied unchanged) and caches the
result under `<cache>/weights/`, keyed by the source file's digest: nothing is downloaded and no weights of
rungwise's own are shipped. Bench figures and the scores kept are in bench/README.md.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from rungwise.errors import ModelUnavailable
from rungwise.paths import cache_root

#: quantisation types a shipped Q4_1 file may be rewritten in ("Q4_1" keeps the shipped file)
FORMATS = ("Q4_1", "Q4_0", "Q8_0")
#: what the embedded model serves unless RUNGWISE_WEIGHTS says otherwise (see bench/README.md for why)
DEFAULT_FORMAT = "Q8_0"
WEIGHTS_ENV = "RUNGWISE_WEIGHTS"
#: where derived files are kept (default: <cache>/weights, the cache being RUNGWISE_CACHE_DIR or ~/.cache/rungwise)
WEIGHTS_DIR_ENV = "RUNGWISE_WEIGHTS_DIR"

_lock = threading.Lock()


def weights_format(requested: str | None = None) -> str:
    """The format asked for (argument, else RUNGWISE_WEIGHTS, else the default), checked."""
    value = (requested or os.environ.get(WEIGHTS_ENV) or DEFAULT_FORMAT).strip().upper()
    if value not in FORMATS:
        raise ModelUnavailable(f"{WEIGHTS_ENV}={value!r} is not a weights format rungwise can derive; "
                               f"use one of {', '.join(FORMATS)}.")
    return value


def weights_dir() -> Path:
    env = os.environ.get(WEIGHTS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return cache_root() / "weights"


def derived_gguf(source: Path, fmt: str, folder: Path, source_digest: str) -> Path:
    """`source` with its Q4_1 tensors in `fmt`, converted on first use and kept in `folder`; `source` itself for
    Q4_1 (or for a file without Q4_1 tensors, which the conversion would copy unchanged)."""
    if fmt == "Q4_1":
        return source
    target = folder / f"{source.stem}.{source_digest[:16]}.{fmt}.gguf"
    with _lock:
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            _convert(source, tmp, fmt)
            os.replace(tmp, target)
        except OSError as err:
            raise ModelUnavailable(f"Could not write the {fmt} weights to {target} ({err}); set {WEIGHTS_DIR_ENV} "
                                   f"to a writable folder, or {WEIGHTS_ENV}=Q4_1 to serve the shipped file.") from err
        finally:
            tmp.unlink(missing_ok=True)
    return target


def _convert(source: Path, target: Path, fmt: str) -> None:
    import gguf

    qtype = gguf.GGMLQuantizationType[fmt]
    reader = gguf.GGUFReader(source)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(target, arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by the writer itself
        if field.name == gguf.Keys.General.FILE_TYPE:
            continue  # describes the shipped file's type; llama.cpp reads each tensor's own type
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)
    tensors: list[tuple[str, np.ndarray, gguf.GGMLQuantizationType]] = []
    for tensor in reader.tensors:
        if tensor.tensor_type == gguf.GGMLQuantizationType.Q4_1:
            values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
            tensors.append((tensor.name, gguf.quants.quantize(values, qtype), qtype))
        else:
            tensors.append((tensor.name, np.asarray(tensor.data), tensor.tensor_type))
    for name, data, kind_ in tensors:
        writer.add_tensor_info(name, data.shape, data.dtype, data.nbytes, kind_)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, data, _ in tensors:
        writer.write_tensor_data(data)
    writer.close()
