"""Transparent interception: iptables REDIRECT in a network namespace, SO_ORIGINAL_DST.

The test makes a namespace with its loopback up and a nat OUTPUT rule sending
the "app's" connections to an outbound listener whose socket was created inside
that namespace (the sidecar shares the app's namespace, as in a pod). Skipped,
with the reason, where ``ip netns`` or iptables is missing or not permitted.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import pytest

from proxy.accept import Listener
from proxy.interception import original_destination
from tests.proxy_mesh import Mesh, running_app, running_mesh

RUN_ON_UVLOOP = True
CLONE_NEWNET = 0x40000000
OTHER_ADDRESS = "10.203.0.9"  # not an endpoint of any route: Host decides
T = TypeVar("T")


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    if not hasattr(socket, "SOL_IP") or os.uname().sysname != "Linux":
        pytest.skip("SO_ORIGINAL_DST is Linux only")
    for tool, package in (("ip", "iproute2"), ("iptables", "iptables")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install {package})")
    name = f"mltest-{secrets.token_hex(4)}"
    added = _run("ip", "netns", "add", name)
    if added.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {added.stderr.strip()}")
    try:
        for command in (("ip", "-n", name, "link", "set", "lo", "up"),
                        ("ip", "-n", name, "addr", "add", f"{OTHER_ADDRESS}/32", "dev", "lo")):
            if (result := _run(*command)).returncode != 0:
                pytest.skip(f"cannot set up the namespace: {result.stderr.strip()}")
        yield name
    finally:
        _run("ip", "netns", "del", name)


def _in_netns(name: str, make: Callable[[], T]) -> T:
    """Run ``make`` in a thread that joined the namespace (sockets stay in it)."""
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/var/run/netns/{name}") as handle:
            if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                errors.append(OSError(ctypes.get_errno(), "setns failed"))
                return
        try:
            out.append(make())
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


def _redirect(name: str, address: str, port: int, to_port: int) -> None:
    result = _run("ip", "netns", "exec", name, "iptables", "-t", "nat", "-A", "OUTPUT", "-p",
                  "tcp", "-d", address, "--dport", str(port), "-j", "REDIRECT",
                  "--to-ports", str(to_port))
    if result.returncode != 0:
        pytest.skip(f"iptables REDIRECT not permitted: {result.stderr.strip()}")


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    async with running_app() as app, running_mesh(app) as mesh:
        yield mesh


async def _call_from_netns(name: str, address: str, port: int, host: str) -> bytes:
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock

    sock = _in_netns(name, make)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (address, port)), 3)
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(b"GET /status/200 HTTP/1.1\r\nHost: %b\r\nConnection: close\r\n\r\n"
                     % host.encode())
        return await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_redirected_connections_route_by_original_destination(netns: str,
                                                                    mesh: Mesh) -> None:
    def make_listening_socket() -> socket.socket:
        sock = socket.create_server(("127.0.0.1", 0))
        sock.setblocking(False)
        return sock

    listening = _in_netns(netns, make_listening_socket)
    listener = Listener("outbound-in-netns", mesh.client_side._outbound.handler,  # type: ignore[union-attr]
                        "127.0.0.1", 0, transparent=True, sock=listening)
    await listener.start()
    try:
        inbound = mesh.server_side.inbound_port  # catalog's endpoint, as the app dials it
        _redirect(netns, "127.0.0.1", inbound, listener.port)
        _redirect(netns, OTHER_ADDRESS, 80, listener.port)
        # the address is catalog's endpoint: routed there whatever the Host says
        answer = await _call_from_netns(netns, "127.0.0.1", inbound, "some-alias")
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]
        # an address no route knows: the Host header decides, as with explicit proxying
        answer = await _call_from_netns(netns, OTHER_ADDRESS, 80, "catalog")
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]
        answer = await _call_from_netns(netns, OTHER_ADDRESS, 80, "nowhere")
        assert answer.startswith(b"HTTP/1.1 503 ") and b"no_route" in answer
        assert len(mesh.app.seen) == 2
    finally:
        await listener.stop()


def test_a_connection_that_was_not_redirected_has_no_original_destination() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as client:
        accepted, _ = server.accept()
        with accepted:
            assert original_destination(accepted) is None
        assert client.fileno() >= 0
    assert original_destination(None) is None
