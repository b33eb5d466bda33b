"""``python -m kubeloop.testenv {build,up,demo}``."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading

from kubeloop.errors import KubeloopError
from kubeloop.testenv._build import ensure_binary
from kubeloop.testenv._controlplane import ControlPlane


def _serve(cp: ControlPlane, banner: str) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cp.start()
    print(f"kubeconfig: {cp.kubeconfig}", flush=True)
    print(f"server: {cp.server}  (up in {cp.startup_seconds:.1f}s; log: {cp.log_path})", flush=True)
    if banner:
        print(banner.format(kubeconfig=cp.kubeconfig), flush=True)
    try:
        while not stop.wait(1.0):
            if not cp.running:
                print(f"control plane exited; log tail:\n{cp.log_tail()}", file=sys.stderr)
                raise SystemExit(1)
    finally:
        cp.stop()


_DEMO_BANNER = """
The control plane is up. In another shell:
  export KUBECONFIG={kubeconfig}
  .venv/bin/kubectl version
  .venv/bin/kubectl get namespaces
Press Ctrl-C to stop it.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kubeloop.testenv")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build (or reuse) the control-plane binary")
    for name in ("up", "demo"):
        p = sub.add_parser(name, help="start the control plane and stay up until SIGINT/SIGTERM")
        p.add_argument("--dir", help="state directory (default: a new temp dir)")
        p.add_argument("--port", type=int, default=0, help="secure port (default: a free one)")
        p.add_argument("--etcd-compaction-interval", default="5m")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "build":
            print(ensure_binary())
            return
        directory = args.dir or tempfile.mkdtemp(prefix="kubeloop-testenv-")
        cp = ControlPlane(
            directory, port=args.port, etcd_compaction_interval=args.etcd_compaction_interval
        )
        _serve(cp, _DEMO_BANNER if args.cmd == "demo" else "")
    except KubeloopError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
