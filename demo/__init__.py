"""Demo services (frontend -> catalog -> inventory), load generator and topology.

Names are imported lazily so that ``python -m demo.app`` and ``python -m
demo.loadgen`` do not find their module already imported by the package.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DemoAppConfig": "demo.app",
    "build_app": "demo.app",
    "run_app": "demo.app",
    "LoadStats": "demo.loadgen",
    "generate_load": "demo.loadgen",
    "DemoPorts": "demo.topology",
    "DemoProcess": "demo.topology",
    "DemoTopology": "demo.topology",
    "ServicePorts": "demo.topology",
    "sidecar_config": "demo.topology",
    "write_demo_mesh": "demo.topology",
    "write_demo_topology": "demo.topology",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'demo' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
