"""Import a test helper file (a stand-in, a site) under a name of its own.

Test folders are not packages and every server has a `standin.py`; importing them by file under distinct
names keeps one server's helper from shadowing another's in the one interpreter pytest runs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["import_file"]


def import_file(path: Path, name: str) -> ModuleType:
    """The module at `path`, imported once as `name` (registered first: its dataclasses look it up)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
