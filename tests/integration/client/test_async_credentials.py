"""AsyncClient credentials against the real API server, under asyncio's loop
and uvloop: an exec plugin runs in a thread (the loop keeps running while
it does), and a rotated token file is re-read after a 401 within one call,
as the sync Client does."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import uvloop

from kubeloop.client import AsyncClient, Config, ExecConfig
from kubeloop.errors import ApiError
from kubeloop.testenv import ControlPlane
from tests.integration.client.test_token_refresh import _service_account_token

pytestmark = pytest.mark.integration

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}

#: An exec plugin that takes its time (as a cloud CLI does), then serves
#: the token in ``argv[1]`` and notes that it ran in ``argv[2]``.
SLOW_PLUGIN = """#!{python}
import json, pathlib, sys, time
time.sleep(0.5)
pathlib.Path(sys.argv[2]).write_text("ran")
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1",
                  "kind": "ExecCredential", "status": {{"token": sys.argv[1]}}}}))
"""


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_an_exec_plugin_runs_in_a_thread_while_the_loop_keeps_running(
    loop: str, testenv: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    token = _service_account_token(testenv, namespace)
    plugin = tmp_path / "plugin"
    plugin.write_text(SLOW_PLUGIN.format(python=sys.executable))
    plugin.chmod(0o755)
    ran = tmp_path / "ran"
    config = Config(
        host=testenv.server,
        ca_data=(testenv.pki / "ca.crt").read_bytes(),
        exec_config=ExecConfig(
            command=str(plugin),
            api_version="client.authentication.k8s.io/v1",
            args=[token, str(ran)],
            interactive_mode="Never",
        ),
    )

    async def main() -> int:
        ticks = 0
        async with AsyncClient(config) as client:
            request = asyncio.create_task(client.version())

            while not request.done():  # the plugin sleeps 0.5 s: the loop must not
                ticks += 1
                await asyncio.sleep(0.01)
            assert (await request)["major"] == "1"
        return ticks

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        ticks = runner.run(main())
    assert ran.read_text() == "ran"
    assert ticks >= 20  # about 50 in 0.5 s; a blocked loop would give 1


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_rotated_token_file_is_reread_after_a_401(
    loop: str, testenv: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("not-a-token")
    config = Config(
        host=testenv.server,
        ca_data=(testenv.pki / "ca.crt").read_bytes(),
        bearer_token_file=str(token_file),
    )

    async def main() -> None:
        async with AsyncClient(config) as client:
            with pytest.raises(ApiError) as refused:
                await client.version()
            assert refused.value.code == 401
            token_file.write_text(_service_account_token(testenv, namespace))
            assert (await client.version())["major"] == "1"

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(main())
