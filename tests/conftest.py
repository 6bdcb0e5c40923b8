"""Root conftest of the test suite.

Its presence matters more than its content: with `tests/__init__.py`, pytest puts
the repository root on sys.path to import this file as `tests.conftest`, so test
modules in any tier can import the shared helpers (`tests.spans`, `tests.ports`).
"""
