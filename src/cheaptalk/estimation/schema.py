"""Reading saved results safely: every fit or comparison JSON is read through its JSON Schema.

A saved result comes from a file the toolkit did not necessarily write: damaged, edited by
hand, or hostile. :func:`read_json` reads only regular files up to :data:`MAX_RESULT_BYTES`,
refuses nesting deeper than Python can parse, integers of more than 30 digits and numbers
beyond a double (``NaN`` and ``Infinity`` literals become ``null``, as the toolkit writes
them). :func:`check_result` validates the document against ``schemas/results.schema.json``
(JSON Schema 2020-12, compiled once by ``fastjsonschema``) and checks what a schema cannot
say (a square covariance matrix of its names). Every problem is one :class:`InputError`
naming the file and the field.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

from ..errors import InputError

__all__ = ["MAX_RESULT_BYTES", "SCHEMA_VERSION", "read_json", "check_result", "result_kind", "schema"]

# the version of the JSON shape written by to_dict(); readers refuse newer versions
SCHEMA_VERSION = 2
MAX_RESULT_BYTES = 64 * 2 ** 20       # a comparison of every model with its folds is a few MB
_MAX_DIGITS = 30


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise ValueError(f"a whole number of {len(text)} digits (at most {_MAX_DIGITS} are read)")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is beyond the range of a double")
    return value


def read_json(path: str | Path):
    """The JSON in ``path``: a regular file of at most :data:`MAX_RESULT_BYTES`. A missing,
    unreadable, oversized or malformed file is an :class:`InputError` naming it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: a folder, not a JSON file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file (a device or a pipe); give a saved JSON file")
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        raise InputError(f"{path}: {size:,} bytes is too large for a saved result (the limit is "
                         f"{MAX_RESULT_BYTES:,})")
    try:
        text = path.read_bytes().decode("utf-8")
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=lambda _: None)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a JSON file (not UTF-8 text)") from None
    except RecursionError:
        raise InputError(f"{path}: not a result JSON (nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not a JSON file ({exc})") from None
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The JSON Schema of saved results (``$defs``: ``fit``, ``comparison``)."""
    return json.loads(resources.files(__package__).joinpath("schemas/results.schema.json").read_text())


@functools.lru_cache(maxsize=2)
def _validator(kind: str):
    import fastjsonschema
    doc = schema()
    return fastjsonschema.compile({"$schema": doc["$schema"], "$defs": doc["$defs"], "$ref": f"#/$defs/{kind}"})


def result_kind(data) -> str:
    """``"fit"`` or ``"comparison"``: the header's ``result`` field; files older than the
    header are a comparison when they hold ``models``."""
    if isinstance(data, dict):
        kind = data.get("result")
        if kind in ("fit", "comparison"):
            return kind
        if kind is None:
            return "comparison" if "models" in data else "fit"
        raise InputError(f"'result' is {str(kind)[:40]!r}; a saved fit or comparison says \"fit\" or \"comparison\"")
    raise InputError(f"neither a fit JSON nor a comparison JSON (a JSON object), but a {type(data).__name__}")


def check_result(data, source: str = "<dict>", kind: str | None = None) -> str:
    """Validate a saved fit or comparison; returns its kind. ``kind`` demands one."""
    import fastjsonschema

    try:
        found = result_kind(data)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    if kind is not None and found != kind:
        raise InputError(f"{source}: a saved {found}, where a {kind} JSON is needed")
    version = data.get("schema_version", 0)
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise InputError(f"{source}: written with result JSON schema version {version}, newer than this "
                         f"version of cheaptalk reads ({SCHEMA_VERSION}); upgrade cheaptalk")
    try:
        _validator(found)(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = exc.name.removeprefix("data").lstrip(".") or "the document"
        message = exc.message.removeprefix(exc.name).strip()
        raise InputError(f"{source}: not a valid {found} JSON: {field} {message}") from None
    for i, fit in enumerate(data["models"] if found == "comparison" else [data]):
        where = f"models[{i}]." if found == "comparison" else ""
        _check_matrices(fit, source, where)
    return found


def _check_matrices(fit: dict, source: str, where: str) -> None:
    blocks = [("covariance", fit.get("covariance"))]
    if isinstance(fit.get("diagnostics"), dict):
        blocks.append(("diagnostics.covariance_unconstrained", fit["diagnostics"].get("covariance_unconstrained")))
    for name, block in blocks:
        if not block:
            continue
        matrix = block["matrix"]
        n = len(block.get("names", matrix))
        if len(matrix) != n or any(len(row) != n for row in matrix):
            raise InputError(f"{source}: not a valid fit JSON: {where}{name}.matrix is not {n} x {n} "
                             f"(one row and column per name)")
