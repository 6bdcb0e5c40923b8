"""Root conftest of the test suite.

Its presence matters more than its content: with `tests/__init__.py`, pytest puts
the repository root on sys.path to import this file as `tests.conftest`, so test
modules in any tier can import the shared helpers (`tests.spans`, `tests.ports`).
"""

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Modules that set RUN_ON_UVLOOP = True run each async test on both loops."""
    module = getattr(item, "module", None)
    if getattr(module, "RUN_ON_UVLOOP", False):
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}
