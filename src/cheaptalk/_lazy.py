"""Package names imported on first use (PEP 562), so that a process that needs only part of
a package does not pay for the rest of its imports."""

from __future__ import annotations

import sys
from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str], public: list[str]):
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps each name to the
    submodule that defines it; the name is imported from there when first asked for."""
    module = sys.modules[package]

    def __getattr__(name):
        if name in exports:
            value = getattr(import_module(f".{exports[name]}", package), name)
            setattr(module, name, value)       # later lookups skip __getattr__
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(module)) | set(public))

    return __getattr__, __dir__
