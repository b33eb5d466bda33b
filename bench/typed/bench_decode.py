"""LIST decode: plain dicts against the generated Network model, same bytes.

Builds one NetworkList body of N Network-like objects (about 1.1 KB each,
managedFields included, as the API server sends them), then decodes it with
kubeloop's two paths:

- ``dict``: ``decode_list`` (msgspec into ``Any``: dicts, lists, strings);
- ``typed``: ``decode_model_list`` into ``network_controller.models.Network``;
- ``typed+raw``: the model plus each object's own JSON bytes kept beside it,
  the least a typed object must keep to send back on PUT the fields its
  model does not know (what #20 weighed against refusing such a PUT).

Prints objects/s (best of ``--repeat`` interleaved runs) and the bytes each decoded
object keeps (tracemalloc: everything allocated by the decode that is still
alive once the body is dropped), with managedFields kept and stripped (what
an informer caches by default). The typed model keeps ``fieldsV1`` as a raw
view into the body, so with managedFields kept the body itself stays alive
and is counted.

GC: both paths decode with the cyclic GC paused, as kubeloop's codec does
for every body of 1 MiB or more; nothing else is paused.

Usage: python bench/typed/bench_decode.py [--objects 30000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from kubeloop.cache.transforms import strip_managed_fields
from kubeloop.client._codec import decode_list, decode_model_list
from network_controller.models import Network


def network(i: int) -> dict[str, Any]:
    time = "2024-05-01T10:00:00Z"
    return {
        "apiVersion": "samplecrd.k8s.io/v1",
        "kind": "Network",
        "metadata": {
            "name": f"net-{i:06d}",
            "namespace": "bench",
            "uid": f"6f1c2a7e-0d4b-4f7a-9e61-{i:012d}",
            "resourceVersion": str(100000 + i),
            "generation": 1,
            "creationTimestamp": time,
            "labels": {"app": "bench", "tier": f"t{i % 7}"},
            "annotations": {"example.com/owner": "team-a"},
            "managedFields": [
                {
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "samplecrd.k8s.io/v1",
                    "time": time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:labels": {".": {}, "f:app": {}, "f:tier": {}},
                            "f:annotations": {".": {}, "f:example.com/owner": {}},
                        },
                        "f:spec": {".": {}, "f:cidr": {}, "f:gateway": {}},
                    },
                },
                {
                    "manager": "network-controller",
                    "operation": "Update",
                    "apiVersion": "samplecrd.k8s.io/v1",
                    "time": time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:status": {
                            ".": {},
                            "f:conditions": {},
                            "f:networkID": {},
                            "f:normalizedCIDR": {},
                            "f:observedGeneration": {},
                        }
                    },
                    "subresource": "status",
                },
            ],
        },
        "spec": {"cidr": f"10.{i // 256 % 256}.{i % 256}.0/24", "gateway": "10.0.0.1"},
        "status": {
            "observedGeneration": 1,
            "networkID": f"net-{i:08x}",
            "normalizedCIDR": f"10.{i // 256 % 256}.{i % 256}.0/24",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Created",
                    "message": "the network exists",
                    "lastTransitionTime": time,
                }
            ],
        },
    }


def list_body(n: int) -> bytes:
    return msgspec.json.encode(
        {
            "apiVersion": "samplecrd.k8s.io/v1",
            "kind": "NetworkList",
            "metadata": {"resourceVersion": "200000"},
            "items": [network(i) for i in range(n)],
        }
    )


def dict_decode(data: bytes) -> list[Any]:
    return decode_list(data, "bench")[0]


def typed_decode(data: bytes) -> list[Any]:
    return decode_model_list(data, "bench", Network)[0]


_raw_items = msgspec.json.Decoder(list[msgspec.Raw])
_network = msgspec.json.Decoder(Network)


class _RawList(msgspec.Struct):
    items: msgspec.Raw


_raw_list = msgspec.json.Decoder(_RawList)


def typed_raw_decode(data: bytes) -> list[Any]:
    """Each item as (model, its JSON bytes copied out of the body)."""
    items = _raw_items.decode(_raw_list.decode(data).items)
    return [(_network.decode(raw), bytes(raw)) for raw in items]


def _strip(item: Any) -> Any:
    if isinstance(item, tuple):
        return (strip_managed_fields(item[0]), item[1])
    return strip_managed_fields(item)


def rates(
    decoders: Mapping[str, Callable[[bytes], list[Any]]], body: bytes, repeat: int
) -> dict[str, float]:
    """Objects/s of each decoder, best of ``repeat`` rounds; each round runs
    every decoder once, so a busy machine slows all modes alike."""
    best = dict.fromkeys(decoders, float("inf"))
    n = 0
    for _ in range(repeat):
        for mode, decode in decoders.items():
            gc.collect()
            start = time.perf_counter()
            items = decode(body)
            best[mode] = min(best[mode], time.perf_counter() - start)
            n = len(items)
            del items
    return {mode: n / seconds for mode, seconds in best.items()}


def kept_per_object(decode: Callable[[bytes], list[Any]], body: bytes, strip: bool) -> float:
    """Bytes still allocated per object once the body copy is dropped."""
    gc.collect()
    tracemalloc.start()
    data = bytes(bytearray(body))  # a body allocated under tracing, as a response's is
    before = tracemalloc.get_traced_memory()[0]
    items = decode(data)
    if strip:
        items = [_strip(i) for i in items]
    del data
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before + len(body)
    tracemalloc.stop()
    n = len(items)
    del items
    return kept / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=30000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    body = list_body(args.objects)
    n = args.objects
    print(f"{n} Networks, {len(body) / n:.0f} bytes each on the wire ({len(body) / 1e6:.1f} MB)")
    print("GC: paused during each decode in both modes (kubeloop's codec, bodies >= 1 MiB)")
    decoders = {"dict": dict_decode, "typed": typed_decode, "typed+raw": typed_raw_decode}
    speed = rates(decoders, body, args.repeat)
    rows = {
        mode: (
            speed[mode],
            kept_per_object(decode, body, strip=False),
            kept_per_object(decode, body, strip=True),
        )
        for mode, decode in decoders.items()
    }
    print(f"{'mode':<9} {'objects/s':>10} {'B/object':>9} {'B/object, managedFields stripped':>33}")
    for mode, (ops, kept, stripped) in rows.items():
        print(f"{mode:<9} {ops:>10,.0f} {kept:>9,.0f} {stripped:>33,.0f}")
    d, t = rows["dict"], rows["typed"]
    print(
        f"typed vs dict: {t[0] / d[0]:.2f}x decode rate, "
        f"{t[1] / d[1]:.2f}x memory ({t[2] / d[2]:.2f}x stripped)"
    )
    k = rows["typed+raw"]
    print(
        f"keeping each object's JSON for PUT: +{k[2] - t[2]:,.0f} B/object stripped "
        f"({k[2] / t[2]:.2f}x)"
    )


if __name__ == "__main__":
    main()
