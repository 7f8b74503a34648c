"""Which Python transforms may run: entry points in modules the platform installed and allowed, nothing else.

A `transform.python` entry point (`module:function`) is code: importing a module runs it, and the function gets
a Spark session. The contract model can only check its shape; whether a module may run is the platform's
decision, made once in configuration (`DATAMESH_PYTHON_TRANSFORMS`, module prefixes) and checked at admission,
in the reconciler and again in the build. With no prefixes configured, no Python transform is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable


def parse_prefixes(raw: str) -> tuple[str, ...]:
    return tuple(sorted({part.strip() for part in raw.split(",") if part.strip()}))


def entry_point_problems(entry: str, allowed: Iterable[str], field: str = "spec.transform.python") -> list[str]:
    """Why `entry` may not run; empty when its module lies under an allowed prefix (a whole dotted component:
    `acme.transforms` allows `acme.transforms.sales`, not `acme.transformsx`)."""
    module, _, function = entry.partition(":")
    prefixes = [p for p in allowed if p]
    if not module or not function:
        return [f"{field}: {entry!r} is not a module:function entry point"]
    if function.startswith("_"):
        return [f"{field}: {entry!r} names a private function"]
    if any(part.startswith("_") for part in module.split(".")):
        return [f"{field}: module {module!r} is private"]
    if not any(module == p or module.startswith(p + ".") for p in prefixes):
        allowed_text = ", ".join(sorted(prefixes)) or "none are configured"
        return [f"{field}: module {module!r} is not an allowed transform package ({allowed_text})"]
    return []
