"""`bench/scale.py` loaded as a module by its path (bench/ is a folder of scripts, not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "scale.py"


def load() -> ModuleType:
    name = "bench_scale"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: dataclasses and Protocols look themselves up there
        spec.loader.exec_module(module)
    return sys.modules[name]
