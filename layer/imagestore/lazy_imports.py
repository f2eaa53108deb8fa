"""Powertools' re-export packages, loaded name by name (cold start).

`aws_lambda_powertools.event_handler` and `aws_lambda_powertools.utilities.data_classes` are packages
whose `__init__` only re-exports the names of their submodules: importing either for one resolver or
one event class loads every resolver (AppSync, Bedrock, VPC Lattice and, with them, asyncio) and
every event class (about 30 modules), some 30 ms of each API function's cold start
(benchmarks/cold_start.py). `reexport_lazily` puts in the place of such a package a module that
imports a submodule when one of its names is first asked for. A package whose `__init__` does
anything else, or that is already imported, is left as it is: at worst the saving is lost, never a name.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from typing import Any

POWERTOOLS_REEXPORTS = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def reexport_lazily(package: str) -> bool:
    """Install a lazy stand-in for `package`; True if it was installed."""
    if package in sys.modules:
        return False
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return False
    with open(spec.origin, encoding="utf-8") as source:
        names = reexports(package, ast.parse(source.read()))
    if names is None:
        return False
    module = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        submodule, attribute = names[name]
        value = getattr(importlib.import_module(submodule), attribute)
        setattr(module, name, value)
        return value

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    module.__all__ = list(names)  # type: ignore[attr-defined]
    sys.modules[package] = module
    parent, _, child = package.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, module)
    return True


def reexports(package: str, tree: ast.Module) -> dict[str, tuple[str, str]] | None:
    """Each name the package's `__init__` re-exports -> (submodule, name there); None if the
    `__init__` does anything but a docstring, `from <its submodule> import names` and `__all__`."""
    names: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            continue
        if not isinstance(node, ast.ImportFrom) or node.level > 1:
            return None
        if node.module == "__future__":
            continue
        source = f"{package}.{node.module}" if node.level == 1 else str(node.module)
        if (node.level == 1 and node.module is None) or not source.startswith(package + "."):
            return None
        for alias in node.names:
            if alias.name == "*":
                return None
            names[alias.asname or alias.name] = (source, alias.name)
    return names
