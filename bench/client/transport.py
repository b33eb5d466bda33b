"""The HTTP transport, measured: kubeloop's client against the HTTP libraries
it could stand on and the official client, on one real API server in one run
(``python -m bench.client.transport``; issue 17).

Each peer runs in a fresh subprocess (so its peak RSS is its own), against
testenv on loopback, and does:

- ``create x1``: N creates of a ConfigMap of about 300 bytes, one thread;
  client CPU (user+sys of the process, every thread) per request, and
  requests per second;
- ``create x16``: N creates from 16 threads (async peers: 16 tasks);
- ``list 10k``: one LIST of 10,000 ConfigMaps, decoded to Python objects
  (raw libraries decode with msgspec, as kubeloop does; the official client
  into its models, as its users get them);
- ``watch 10k``: a watch from resourceVersion 0, which replays the 10,000
  ConfigMaps as ADDED events, each decoded;
- peak RSS.

Figures are medians over ``--repeat`` runs. Creates go to a namespace per
peer and run, removed with one DELETE of the collection afterwards.

``--baseline SRC`` adds the peer ``kubeloop-before``: the kubeloop at SRC
(a checkout's ``src`` directory, e.g. of the commit before the transport
change), so before and after come from the same run.

Usage: python -m bench.client.transport [--creates 3000] [--repeat 3]
       [--peers kubeloop,urllib3,...] [--kubeconfig K] [--baseline SRC]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

LIST_NAMESPACE = "bench-transport-list"
LIST_OBJECTS = 10_000
CONCURRENCY = 16
PEERS = [
    "kubeloop",
    "kubeloop-async",
    "kubeloop-before",
    "official",
    "http.client",
    "urllib3",
    "httpx-h1",
    "httpx-h2",
    "httpx-async",
    "aiohttp",
    "pyreqwest",
    "pyreqwest-async",
]
DESCRIPTIONS = {
    "kubeloop": "kubeloop Client (urllib3, this tree)",
    "kubeloop-async": "kubeloop AsyncClient (aiohttp, this tree)",
    "kubeloop-before": "kubeloop Client before (httpx HTTP/2 on a loop thread)",
    "official": "official client (kubernetes, urllib3 + its models)",
    "http.client": "http.client (stdlib), a keep-alive connection per thread",
    "urllib3": "urllib3 2.x pool",
    "httpx-h1": "httpx sync HTTP/1.1",
    "httpx-h2": "httpx sync HTTP/2",
    "httpx-async": "httpx async HTTP/2",
    "aiohttp": "aiohttp (C parser)",
    "pyreqwest": "pyreqwest sync (Rust reqwest), HTTP/2",
    "pyreqwest-async": "pyreqwest async (Rust reqwest), HTTP/2",
}


def configmap(labels: dict[str, str] | None = None) -> dict[str, Any]:
    """About 300 bytes once encoded."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"b-{uuid.uuid4().hex[:20]}", "labels": labels or {"app": "bench"}},
        "data": {"cidr": "10.0.0.0/16", "gateway": "10.0.0.1", "note": "x" * 150},
    }


def cpu() -> float:
    t = os.times()
    return t.user + t.system


# -- the peers (each runs in its own child process) ------------------------------
class Peer:
    """What a peer must do; ``create`` is called from many threads at once
    by the sync peers. Async peers override :meth:`creates` instead."""

    def __init__(self, kubeconfig: str) -> None:
        from kubeloop.client import load_config

        self.config = load_config(kubeconfig=kubeconfig)
        host, _, port = self.config.host.split("//", 1)[1].partition(":")
        self.host, self.port = host, int(port or 443)
        self.kubeconfig = kubeconfig

    def ssl_context(self) -> Any:
        import ssl

        ctx = ssl.create_default_context(cadata=(self.config.ca_data or b"").decode())
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "c"), os.path.join(tmp, "k")
            open(cert, "wb").write(self.config.cert_data or b"")  # noqa: SIM115
            open(key, "wb").write(self.config.key_data or b"")  # noqa: SIM115
            ctx.load_cert_chain(cert, key)
        return ctx

    def create(self, namespace: str) -> None:
        raise NotImplementedError

    def creates(self, namespace: str, n: int, concurrency: int) -> None:
        if concurrency == 1:
            for _ in range(n):
                self.create(namespace)
            return
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda _: self.create(namespace), range(n)))

    def list_all(self) -> int:
        raise NotImplementedError

    def watch_all(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _msgspec_items(data: bytes) -> int:
    import msgspec

    return len(msgspec.json.decode(data)["items"])


def _count_watch_lines(lines: Any, total: int) -> int:
    import msgspec

    seen = 0
    for line in lines:
        if line.strip():
            msgspec.json.decode(line)
            seen += 1
            if seen >= total:
                break
    return seen


async def _acount_watch_lines(lines: Any, total: int) -> int:
    """:func:`_count_watch_lines` over an async iterator of lines."""
    import msgspec

    seen = 0
    async for line in lines:
        if line.strip():
            msgspec.json.decode(line)
            seen += 1
            if seen >= total:
                break
    return seen


LIST_PATH = f"/api/v1/namespaces/{LIST_NAMESPACE}/configmaps"
WATCH_QUERY = "?watch=true&resourceVersion=0&timeoutSeconds=120"


def cm_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


class KubeloopPeer(Peer):
    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        from kubeloop.client import Client

        self.config.qps = 0
        self.client = Client(self.config)

    def create(self, namespace: str) -> None:
        self.client.resource("v1", "configmaps", namespace=namespace, namespaced=True).create(
            configmap()
        )

    def list_all(self) -> int:
        cms = self.client.resource("v1", "configmaps", namespace=LIST_NAMESPACE, namespaced=True)
        return len(cms.list_page().items)

    def watch_all(self) -> int:
        cms = self.client.resource("v1", "configmaps", namespace=LIST_NAMESPACE, namespaced=True)
        seen = 0
        with cms.watch(resource_version="0", timeout_seconds=120) as w:
            for _ in w:
                seen += 1
                if seen >= LIST_OBJECTS:
                    break
        return seen

    def close(self) -> None:
        self.client.close()


class OfficialPeer(Peer):
    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        import kubernetes

        kubernetes.config.load_kube_config(config_file=kubeconfig)
        self.api = kubernetes.client.CoreV1Api()

    def create(self, namespace: str) -> None:
        self.api.create_namespaced_config_map(namespace, configmap())

    def list_all(self) -> int:
        return len(self.api.list_namespaced_config_map(LIST_NAMESPACE).items)

    def watch_all(self) -> int:
        import kubernetes

        seen = 0
        w = kubernetes.watch.Watch()
        for _ in w.stream(
            self.api.list_namespaced_config_map,
            LIST_NAMESPACE,
            resource_version="0",
            timeout_seconds=120,
        ):
            seen += 1
            if seen >= LIST_OBJECTS:
                w.stop()
                break
        return seen


class HttpClientPeer(Peer):
    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        self.ctx = self.ssl_context()
        self.local = threading.local()

    def conn(self) -> Any:
        import http.client

        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.ctx
            )
        return c

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        c = self.conn()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        c.request(method, path, body, headers)
        r = c.getresponse()
        data: bytes = r.read()
        assert r.status < 300, data
        return data

    def create(self, namespace: str) -> None:
        self.request("POST", cm_path(namespace), json.dumps(configmap()).encode())

    def list_all(self) -> int:
        return _msgspec_items(self.request("GET", LIST_PATH))

    def watch_all(self) -> int:
        import http.client

        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx)
        c.request("GET", LIST_PATH + WATCH_QUERY)
        r = c.getresponse()
        try:
            return _count_watch_lines(iter(r.readline, b""), LIST_OBJECTS)
        finally:
            c.close()


class Urllib3Peer(Peer):
    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        import urllib3

        self.pool = urllib3.HTTPSConnectionPool(
            self.host, self.port, ssl_context=self.ssl_context(), maxsize=CONCURRENCY
        )

    def create(self, namespace: str) -> None:
        r = self.pool.request(
            "POST",
            cm_path(namespace),
            body=json.dumps(configmap()).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status == 201, r.data

    def list_all(self) -> int:
        return _msgspec_items(self.pool.request("GET", LIST_PATH).data)

    def watch_all(self) -> int:
        r = self.pool.request("GET", LIST_PATH + WATCH_QUERY, preload_content=False)
        try:
            return _count_watch_lines(_split_lines(r.stream(65536)), LIST_OBJECTS)
        finally:
            r.close()


def _split_lines(chunks: Any) -> Any:
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        yield from lines


class HttpxPeer(Peer):
    def __init__(self, kubeconfig: str, http2: bool) -> None:
        super().__init__(kubeconfig)
        import httpx

        self.http = httpx.Client(
            base_url=f"https://{self.host}:{self.port}",
            verify=self.ssl_context(),
            http2=http2,
            limits=httpx.Limits(max_connections=CONCURRENCY * 2),
        )

    def create(self, namespace: str) -> None:
        r = self.http.post(
            cm_path(namespace),
            content=json.dumps(configmap()).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 201, r.text

    def list_all(self) -> int:
        return _msgspec_items(self.http.get(LIST_PATH).content)

    def watch_all(self) -> int:
        with self.http.stream("GET", LIST_PATH + WATCH_QUERY) as r:
            return _count_watch_lines(r.iter_lines(), LIST_OBJECTS)


class PyreqwestPeer(Peer):
    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        from pyreqwest.client import SyncClientBuilder

        self.base = f"https://{self.host}:{self.port}"
        self.http = (
            SyncClientBuilder()
            .add_root_certificate_pem(self.config.ca_data or b"")
            .identity_pem((self.config.cert_data or b"") + (self.config.key_data or b""))
            .http2(True)
            .gzip(False)
            .build()
        )

    def create(self, namespace: str) -> None:
        r = (
            self.http.post(self.base + cm_path(namespace))
            .body_bytes(json.dumps(configmap()).encode())
            .headers({"Content-Type": "application/json"})
            .build()
            .send()
        )
        assert r.status == 201

    def list_all(self) -> int:
        return _msgspec_items(bytes(self.http.get(self.base + LIST_PATH).build().send().bytes()))

    def watch_all(self) -> int:
        with self.http.get(self.base + LIST_PATH + WATCH_QUERY).build_streamed() as r:
            reader = r.body_reader
            chunks = iter(lambda: reader.read_chunk(), None)
            return _count_watch_lines(_split_lines(bytes(c) for c in chunks), LIST_OBJECTS)


class AsyncPeer(Peer):
    """Runs everything on one event loop in the main thread."""

    async def acreate(self, namespace: str) -> None:
        raise NotImplementedError

    async def alist(self) -> int:
        raise NotImplementedError

    async def awatch(self) -> int:
        raise NotImplementedError

    async def aopen(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.run(self.aopen())

    def creates(self, namespace: str, n: int, concurrency: int) -> None:
        async def worker(k: int) -> None:
            for _ in range(k):
                await self.acreate(namespace)

        async def all_of() -> None:
            await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))

        self.run(all_of())

    def list_all(self) -> int:
        return int(self.run(self.alist()))

    def watch_all(self) -> int:
        return int(self.run(self.awatch()))

    def close(self) -> None:
        self.run(self.aclose())
        self.loop.close()


class AiohttpPeer(AsyncPeer):
    async def aopen(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(ssl=self.ssl_context(), limit=CONCURRENCY * 2)
        self.session = aiohttp.ClientSession(
            f"https://{self.host}:{self.port}", connector=connector
        )

    async def acreate(self, namespace: str) -> None:
        async with self.session.post(
            cm_path(namespace),
            data=json.dumps(configmap()).encode(),
            headers={"Content-Type": "application/json"},
        ) as r:
            await r.read()
            assert r.status == 201

    async def alist(self) -> int:
        async with self.session.get(LIST_PATH) as r:
            return _msgspec_items(await r.read())

    async def awatch(self) -> int:
        async with self.session.get(LIST_PATH + WATCH_QUERY) as r:
            return await _acount_watch_lines(r.content, LIST_OBJECTS)

    async def aclose(self) -> None:
        await self.session.close()


class KubeloopAsyncPeer(AsyncPeer):
    """kubeloop's AsyncClient: the aiohttp peer plus kubeloop's throttle,
    retry rules, credentials and codec."""

    async def aopen(self) -> None:
        from kubeloop.client import AsyncClient

        self.config.qps = 0
        self.client = AsyncClient(self.config)

    def _cms(self, namespace: str) -> Any:
        return self.client.resource("v1", "configmaps", namespace=namespace, namespaced=True)

    async def acreate(self, namespace: str) -> None:
        await self._cms(namespace).create(configmap())

    async def alist(self) -> int:
        return len((await self._cms(LIST_NAMESPACE).list_page()).items)

    async def awatch(self) -> int:
        seen = 0
        watch = await self._cms(LIST_NAMESPACE).watch(resource_version="0", timeout_seconds=120)
        async with watch:
            async for _ in watch:
                seen += 1
                if seen >= LIST_OBJECTS:
                    break
        return seen

    async def aclose(self) -> None:
        await self.client.aclose()


class HttpxAsyncPeer(AsyncPeer):
    async def aopen(self) -> None:
        import httpx

        self.http = httpx.AsyncClient(
            base_url=f"https://{self.host}:{self.port}",
            verify=self.ssl_context(),
            http2=True,
            limits=httpx.Limits(max_connections=CONCURRENCY * 2),
        )

    async def acreate(self, namespace: str) -> None:
        r = await self.http.post(
            cm_path(namespace),
            content=json.dumps(configmap()).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 201

    async def alist(self) -> int:
        return _msgspec_items((await self.http.get(LIST_PATH)).content)

    async def awatch(self) -> int:
        async with self.http.stream("GET", LIST_PATH + WATCH_QUERY) as r:
            return await _acount_watch_lines(r.aiter_lines(), LIST_OBJECTS)

    async def aclose(self) -> None:
        await self.http.aclose()


class PyreqwestAsyncPeer(AsyncPeer):
    async def aopen(self) -> None:
        from pyreqwest.client import ClientBuilder

        self.base = f"https://{self.host}:{self.port}"
        self.http = (
            ClientBuilder()
            .add_root_certificate_pem(self.config.ca_data or b"")
            .identity_pem((self.config.cert_data or b"") + (self.config.key_data or b""))
            .http2(True)
            .gzip(False)
            .build()
        )

    async def acreate(self, namespace: str) -> None:
        r = await (
            self.http.post(self.base + cm_path(namespace))
            .body_bytes(json.dumps(configmap()).encode())
            .headers({"Content-Type": "application/json"})
            .build()
            .send()
        )
        await r.bytes()
        assert r.status == 201

    async def alist(self) -> int:
        r = await self.http.get(self.base + LIST_PATH).build().send()
        return _msgspec_items(bytes(await r.bytes()))

    async def awatch(self) -> int:
        async with self.http.get(self.base + LIST_PATH + WATCH_QUERY).build_streamed() as r:
            reader = r.body_reader

            async def lines() -> AsyncIterator[bytes]:
                buffer = b""
                while (chunk := await reader.read_chunk()) is not None:
                    *complete, buffer = (buffer + bytes(chunk)).split(b"\n")
                    for line in complete:
                        yield line

            return await _acount_watch_lines(lines(), LIST_OBJECTS)

    async def aclose(self) -> None:
        await self.http.close()


FACTORIES: dict[str, Callable[[str], Peer]] = {
    "kubeloop": KubeloopPeer,
    "kubeloop-async": KubeloopAsyncPeer,
    "kubeloop-before": KubeloopPeer,  # the same code path, on the baseline's src
    "official": OfficialPeer,
    "http.client": HttpClientPeer,
    "urllib3": Urllib3Peer,
    "httpx-h1": lambda k: HttpxPeer(k, http2=False),
    "httpx-h2": lambda k: HttpxPeer(k, http2=True),
    "httpx-async": HttpxAsyncPeer,
    "aiohttp": AiohttpPeer,
    "pyreqwest": PyreqwestPeer,
    "pyreqwest-async": PyreqwestAsyncPeer,
}


def run_peer(peer: str, kubeconfig: str, creates: int) -> dict[str, Any]:
    """In the child: every measurement for one peer."""
    p = FACTORIES[peer](kubeconfig)
    if isinstance(p, AsyncPeer):
        p.start()
    out: dict[str, Any] = {"peer": peer}
    try:
        for label, concurrency in (("x1", 1), ("x16", CONCURRENCY)):
            namespace = f"bt-{uuid.uuid4().hex[:8]}"
            _namespace(kubeconfig, namespace, create=True)
            try:
                p.creates(namespace, 20, 1)  # warm: connections, caches
                n = creates - creates % concurrency
                c0, t0 = cpu(), time.perf_counter()
                p.creates(namespace, n, concurrency)
                wall, used = time.perf_counter() - t0, cpu() - c0
            finally:
                _namespace(kubeconfig, namespace, create=False)
            out[f"create_{label}_rps"] = n / wall
            out[f"create_{label}_cpu_ms"] = used / n * 1000
        for name, fn in (("list", p.list_all), ("watch", p.watch_all)):
            c0, t0 = cpu(), time.perf_counter()
            count = fn()
            out[f"{name}_s"], out[f"{name}_cpu_s"] = time.perf_counter() - t0, cpu() - c0
            assert count == LIST_OBJECTS, f"{peer} {name}: {count} objects"
    finally:
        p.close()
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _namespace(kubeconfig: str, name: str, *, create: bool) -> None:
    """Create ``name``, or empty it with one DELETE of the collection (testenv
    runs no namespace controller, so the namespace itself stays)."""
    from kubeloop.client import Client, load_config
    from kubeloop.errors import AlreadyExists

    config = load_config(kubeconfig=kubeconfig)
    config.qps = 0
    with Client(config) as c:
        if create:
            with contextlib.suppress(AlreadyExists):
                c.resource("v1", "namespaces", namespaced=False).create(
                    {"metadata": {"name": name}}
                )
        else:
            c.request("DELETE", cm_path(name))


def seed(kubeconfig: str) -> None:
    from kubeloop.client import Client, load_config
    from kubeloop.errors import AlreadyExists

    config = load_config(kubeconfig=kubeconfig)
    config.qps = 0
    with Client(config) as c:
        with contextlib.suppress(AlreadyExists):
            c.resource("v1", "namespaces", namespaced=False).create(
                {"metadata": {"name": LIST_NAMESPACE}}
            )
        cms = c.resource("v1", "configmaps", namespace=LIST_NAMESPACE, namespaced=True)
        have = len(cms.list_page(limit=1).items) and len(cms.list().items)
        if have < LIST_OBJECTS:
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda _: cms.create(configmap()), range(LIST_OBJECTS - have)))


COLUMNS = [
    ("create_x1_cpu_ms", "create x1 CPU ms/req", "{:.2f}"),
    ("create_x1_rps", "create x1 req/s", "{:.0f}"),
    ("create_x16_cpu_ms", "create x16 CPU ms/req", "{:.2f}"),
    ("create_x16_rps", "create x16 req/s", "{:.0f}"),
    ("list_s", "LIST 10k s", "{:.2f}"),
    ("list_cpu_s", "LIST 10k CPU s", "{:.2f}"),
    ("watch_s", "watch 10k events s", "{:.2f}"),
    ("watch_cpu_s", "watch 10k CPU s", "{:.2f}"),
    ("rss_mb", "peak RSS MB", "{:.0f}"),
]


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    head = "| peer | " + " | ".join(c[1] for c in COLUMNS) + " |"
    rows = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for peer, runs in results.items():
        if not runs:
            continue
        cells = [fmt.format(statistics.median(r[key] for r in runs)) for key, _, fmt in COLUMNS]
        rows.append(f"| {DESCRIPTIONS[peer]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write_section(args: argparse.Namespace, summary: str, text: str) -> None:
    """The table as the "HTTP transport" section bench/report.py includes in
    docs/benchmarks.md."""
    import platform

    command = "python -m bench.client.transport " + " ".join(
        a for a in sys.argv[1:] if not a.startswith("--kubeconfig")
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "## HTTP transport",
        "",
        f"`{command}` (bench/client/transport.py): {summary}; testenv on loopback, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average after: {load}.",
        "Client CPU is user+sys of the peer's process (every thread) per request; each peer "
        "runs in its own process. Creates are of a ConfigMap of about 300 bytes; the LIST "
        "and the watch (from resourceVersion 0) return 10,000 ConfigMaps, decoded.",
        "",
        text,
        "",
    ]
    with open(args.write, "w") as f:
        f.write("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    ap.add_argument("--creates", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peers", default=",".join(p for p in PEERS if p != "kubeloop-before"))
    ap.add_argument("--kubeconfig")
    ap.add_argument("--baseline", help="a kubeloop src directory to measure as kubeloop-before")
    ap.add_argument("--write", help="also write the table as a markdown section to this file")
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        print(json.dumps(run_peer(args.peer, args.kubeconfig, args.creates)))
        return
    peers = args.peers.split(",")
    if args.baseline and "kubeloop-before" not in peers:
        peers.insert(1, "kubeloop-before")
    from kubeloop.testenv import ControlPlane

    cp = None
    kubeconfig = args.kubeconfig
    if not kubeconfig:
        cp = ControlPlane(tempfile.mkdtemp(prefix="bench-transport-")).start()
        kubeconfig = str(cp.kubeconfig)
    try:
        seed(kubeconfig)
        results: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
        for _ in range(args.repeat):
            for peer in peers:
                env = dict(os.environ)
                if peer == "kubeloop-before":
                    env["PYTHONPATH"] = os.pathsep.join([args.baseline, os.getcwd()])
                cmd = [sys.executable, "-m", "bench.client.transport", "--peer", peer]
                cmd += ["--kubeconfig", kubeconfig, "--creates", str(args.creates)]
                done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if done.returncode != 0:
                    print(f"{peer}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results[peer].append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
        summary = f"{args.creates} creates per peer and run, median of {args.repeat} runs"
        print(f"\n{summary}\n")
        print(table(results))
        if args.write:
            write_section(args, summary, table(results))
    finally:
        if cp is not None:
            cp.stop()


if __name__ == "__main__":
    main()
