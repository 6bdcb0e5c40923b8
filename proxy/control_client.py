"""The proxy's side of the control plane: bootstrap, renewal, config and revocation watch.

``ControlClient.start()`` gets a first certificate with the bootstrap token
(the key is made here and never sent), then runs three loops: renew at half the
leaf's life with jitter, long-poll the config snapshot, long-poll the revocation
list. A loop that fails logs, waits and tries again; the proxy keeps its last
good config, certificate and revocation list while the control plane is away.
A snapshot naming another signing CA than the one of the proxy's leaf (the
control plane rotated its intermediate) brings the renewal forward: within
``reissue_spread_s``, at a random moment so that the mesh spreads its renewals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp

from proxy.identity.csr import make_key_and_csr
from proxy.identity.revocation_list import RevocationList
from proxy.identity.rotation import IdentityContexts, renewal_delay
from proxy.identity.tls_contexts import IdentityMaterial, client_context

log = logging.getLogger(__name__)
SnapshotCallback = Callable[[int, dict[str, Any]], None]
DENIAL_QUEUE_LIMIT = 1000


class ControlPlaneError(RuntimeError):
    pass


class ControlClient:
    def __init__(self, url: str, spiffe_id: str, *, bundle_pem: bytes, token: str | None = None,
                 on_snapshot: SnapshotCallback | None = None, watch_timeout_s: float = 30.0,
                 retry_s: float = 1.0, reissue_spread_s: float = 5.0,
                 clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random) -> None:
        self.url = url.rstrip("/")
        self.spiffe_id = spiffe_id
        self._bundle_pem = bundle_pem
        self._token = token
        self.on_snapshot = on_snapshot
        self._watch_timeout_s = watch_timeout_s
        self._retry_s = retry_s
        self._reissue_spread_s = reissue_spread_s
        self._clock = clock
        self._rng = rng
        self._renew_early = asyncio.Event()
        self._signing_key_id = ""  # of the intermediate signing now, from the last snapshot
        self.identity: IdentityContexts | None = None
        self.snapshot_version = 0
        self.snapshot: dict[str, Any] | None = None
        self.renewals = 0
        self.early_renewals = 0  # brought forward by an intermediate rotation
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._denials: deque[dict[str, str]] = deque(maxlen=DENIAL_QUEUE_LIMIT)

    async def start(self) -> None:
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=self._watch_timeout_s + 10))
        try:
            if self.identity is None:
                self.identity = IdentityContexts(await self._request_certificate(None))
        except BaseException:
            await self.stop()
            raise
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._renew_loop()),
                       loop.create_task(self._watch_loop()),
                       loop.create_task(self._revocation_loop()),
                       loop.create_task(self._denial_report_loop())]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def renew(self) -> None:
        """A new key and leaf for the same identity, over mTLS; swaps the contexts."""
        assert self.identity is not None, "start() first"
        material = await self._request_certificate(self.identity.current.client)
        self.identity.swap(material)
        self.renewals += 1

    def report_denied(self, denial: dict[str, str]) -> None:
        """Queue a denied request for the control plane's audit log (sent about every
        second; the oldest reports are dropped past DENIAL_QUEUE_LIMIT)."""
        self._denials.append(denial)

    # internals

    async def _denial_report_loop(self) -> None:
        while True:
            await asyncio.sleep(self._retry_s)
            if not self._denials:
                continue
            batch = [self._denials.popleft() for _ in range(min(len(self._denials), 500))]
            assert self._session is not None and self.identity is not None
            try:
                async with self._session.post(f"{self.url}/v1/denials", json={"denials": batch},
                                              ssl=self.identity.current.client) as response:
                    if response.status != 200:
                        raise ControlPlaneError(f"denial report: {response.status}")
            except (OSError, aiohttp.ClientError, ControlPlaneError, TimeoutError) as exc:
                log.debug("denial report failed, keeping %d for later: %s", len(batch), exc)
                self._denials.extendleft(reversed(batch))

    async def _request_certificate(self, mtls: ssl.SSLContext | None) -> IdentityMaterial:
        key_pem, csr_pem = make_key_and_csr(self.spiffe_id)
        body: dict[str, str] = {"csr": csr_pem.decode()}
        if mtls is None:
            if self._token is None:
                raise ControlPlaneError("no certificate yet and no bootstrap token")
            body["token"] = self._token
        context = mtls or client_context(None, self._bundle_pem)
        assert self._session is not None
        async with self._session.post(f"{self.url}/v1/certificates", json=body,
                                      ssl=context) as response:
            if response.status != 200:
                raise ControlPlaneError(f"certificate request: {response.status} "
                                        f"{(await response.text()).strip()}")
            data = await response.json()
        self._bundle_pem = data["bundle"].encode()
        return IdentityMaterial(data["chain"].encode(), key_pem, self._bundle_pem)

    async def _get(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        assert self._session is not None and self.identity is not None
        async with self._session.get(f"{self.url}{path}", params=params,
                                     ssl=self.identity.current.client) as response:
            if response.status == 304:
                return 304, None
            if response.status != 200:
                raise ControlPlaneError(f"GET {path}: {response.status}")
            return 200, await response.json()

    async def _renew_loop(self) -> None:
        assert self.identity is not None
        while True:
            delay = renewal_delay(self.identity.current.material, self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._renew_early.wait(), delay)
            if self._renew_early.is_set():
                self._renew_early.clear()
                await asyncio.sleep(self._rng() * self._reissue_spread_s)
                if self.identity.current.material.issuer_key_id == self._signing_key_id:
                    continue  # renewed meanwhile, by the new intermediate
                self.early_renewals += 1
            while True:
                try:
                    await self.renew()
                    break
                except (OSError, aiohttp.ClientError, ControlPlaneError, TimeoutError) as exc:
                    log.warning("renewal failed, keeping the current certificate: %s", exc)
                    await asyncio.sleep(self._retry_s)

    async def _watch_loop(self) -> None:
        while True:
            try:
                status, data = await self._get("/v1/watch", {
                    "version": str(self.snapshot_version),
                    "timeout": str(self._watch_timeout_s)})
            except (OSError, aiohttp.ClientError, ControlPlaneError, TimeoutError) as exc:
                log.debug("config watch failed, keeping version %d: %s",
                          self.snapshot_version, exc)
                await asyncio.sleep(self._retry_s)
                continue
            if status == 304:
                continue
            self._apply_snapshot(int(data["version"]), data["snapshot"])

    def _apply_snapshot(self, version: int, snapshot: dict[str, Any]) -> None:
        try:
            if self.on_snapshot is not None:
                self.on_snapshot(version, snapshot)
        except Exception:
            log.exception("config snapshot %d not applied; keeping the last good one", version)
        else:
            self.snapshot = snapshot
        self.snapshot_version = version  # a bad snapshot is not asked for again
        self._check_signing_ca(snapshot.get("signing_ca"))

    def _check_signing_ca(self, signing_ca: Any) -> None:
        if not isinstance(signing_ca, dict) or self.identity is None:
            return
        key_id = signing_ca.get("key_id")
        if not isinstance(key_id, str) or not key_id:
            return
        self._signing_key_id = key_id
        if key_id != self.identity.current.material.issuer_key_id:
            log.info("%s: the control plane signs with another intermediate (%s); renewing "
                     "within %gs", self.spiffe_id, key_id, self._reissue_spread_s)
            self._renew_early.set()

    async def _revocation_loop(self) -> None:
        assert self.identity is not None
        while True:
            try:
                status, data = await self._get("/v1/revocations", {
                    "version": str(self.identity.revocations.version), "wait": "1",
                    "timeout": str(self._watch_timeout_s)})
            except (OSError, aiohttp.ClientError, ControlPlaneError, TimeoutError) as exc:
                log.debug("revocation watch failed, keeping the last list: %s", exc)
                await asyncio.sleep(self._retry_s)
                continue
            if status == 200:
                self.identity.set_revocations(RevocationList.from_json(data))
