"""Request matching: a route's ``match`` block compiled into one predicate.

Paths are matched without the query string; regexes must match the whole value
(as Envoy's ``safe_regex`` does). Header names are case-insensitive, cookie
names are not. With a header sent twice the first value is matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from proxy.http_codec import RequestHead
from proxy.routing.route_config import RouteMatch, StringMatch

ValueTest = Callable[[str | None], bool]


def compile_string_match(spec: StringMatch) -> ValueTest:
    """``value`` is None when the header or cookie is absent."""
    if spec.present is not None:
        wanted = spec.present
        return lambda value: (value is not None) is wanted
    if spec.exact is not None:
        exact = spec.exact
        return lambda value: value == exact
    if spec.prefix is not None:
        prefix = spec.prefix
        return lambda value: value is not None and value.startswith(prefix)
    assert spec.regex is not None
    pattern = re.compile(spec.regex)
    return lambda value: value is not None and pattern.fullmatch(value) is not None


def request_cookies(head: RequestHead) -> dict[str, str]:
    """Every ``Cookie`` header's pairs; the first of a repeated name wins."""
    cookies: dict[str, str] = {}
    for key, value in head.headers:
        if key.lower() != b"cookie":
            continue
        for pair in value.decode("latin-1").split(";"):
            name, sep, text = pair.strip().partition("=")
            if sep and name:
                cookies.setdefault(name, text.strip().strip('"'))
    return cookies


class RequestMatcher:
    """Path, method, headers and cookies of one route; every condition must hold."""

    __slots__ = ("_cookies", "_headers", "_methods", "_path", "matches_everything")

    def __init__(self, spec: RouteMatch) -> None:
        self._path = compile_string_match(spec.path) if spec.path is not None else None
        self._methods = frozenset(m.encode("latin-1") for m in spec.methods)
        self._headers = tuple((name.encode("latin-1"), compile_string_match(m))
                              for name, m in spec.headers)
        self._cookies = tuple((name, compile_string_match(m)) for name, m in spec.cookies)
        self.matches_everything = spec.matches_everything

    def __call__(self, head: RequestHead, path: str) -> bool:
        if self.matches_everything:
            return True
        if self._methods and head.method not in self._methods:
            return False
        if self._path is not None and not self._path(path):
            return False
        for name, test in self._headers:
            raw = head.header(name)
            if not test(raw.decode("latin-1") if raw is not None else None):
                return False
        if self._cookies:
            cookies = request_cookies(head)
            for cookie, test in self._cookies:
                if not test(cookies.get(cookie)):
                    return False
        return True
