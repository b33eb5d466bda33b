"""Does FaultProxy's latency delay chunks side by side, not one after another?

With latency L, a chunk comes back through the proxy and an echo server about
2 L after it was sent (L each way). If the proxy delayed chunks one after
another, the k-th of a burst would wait for the k-1 before it and come back
about (k + 1) L after it was sent. That difference is a matter of how soon
chunks arrive, so it is measured here, where a loaded machine can be seen in
the figures, rather than asserted in the unit tests
(tests/unit/testenv/test_faultproxy.py checks only that every chunk is held
back at least 2 L).

Usage: ``python bench/testenv/bench_faultproxy_latency.py
[--latency 0.2] [--chunks 10] [--gap 0.01]``. Prints each chunk's delay; exits
1 if the slowest chunk took 3 L or more (delays adding up).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import socket
import socketserver
import statistics
import sys
import threading
import time

from kubeloop.testenv.faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


def measure(latency: float, count: int, gap: float) -> list[float]:
    """Each chunk's time from send to its echo arriving back, in seconds."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    serving = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    serving.start()
    try:
        with FaultProxy("127.0.0.1", server.server_address[1]) as proxy:
            proxy.set_latency(latency)
            chunks = [b"%d;" % i for i in range(count)]
            ends = list(itertools.accumulate(len(c) for c in chunks))
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=60) as sock:
                sent_at = []
                for chunk in chunks:
                    sent_at.append(time.monotonic())
                    sock.sendall(chunk)
                    time.sleep(gap)  # separate chunks on the wire
                got = b""
                arrived_at: list[float] = []
                while len(arrived_at) < count:
                    data = sock.recv(4096)
                    if not data:
                        raise RuntimeError("the proxy closed the connection")
                    got += data
                    now = time.monotonic()
                    while len(arrived_at) < count and len(got) >= ends[len(arrived_at)]:
                        arrived_at.append(now)
            return [a - s for s, a in zip(sent_at, arrived_at, strict=True)]
    finally:
        server.shutdown()
        server.server_close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--gap", type=float, default=0.01)
    args = parser.parse_args()
    delays = measure(args.latency, args.chunks, args.gap)
    for i, delay in enumerate(delays):
        print(f"chunk {i:3d}: {delay * 1000:8.1f} ms")
    print(
        f"latency {args.latency * 1000:.0f} ms: median {statistics.median(delays) * 1000:.1f} ms,"
        f" max {max(delays) * 1000:.1f} ms (side by side: about {2 * args.latency * 1000:.0f} ms)"
    )
    if max(delays) >= 3 * args.latency:
        print("delays add up: chunks are held back one after another", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
