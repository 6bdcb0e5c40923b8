"""Per-route resilience: timeouts, retries with a budget, circuit breaking.

Faults, mirroring and rate limiting live beside it (``proxy/faults.py``,
``proxy/mirror.py``, ``proxy/rate_limit.py``);
:class:`proxy.resilience.route_guard.RouteGuards` wires them all around the
forward stage. Only the config blocks are exported here, so that
``proxy.config`` can import them without importing the data path.
"""

from proxy.resilience.config import POLICY_KEYS, RoutePolicy, parse_route_policy

__all__ = ["POLICY_KEYS", "RoutePolicy", "parse_route_policy"]
