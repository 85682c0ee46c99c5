"""Kind ``jax`` end to end: two JAX processes on the default sandbox join through
``jax.distributed.initialize`` (coordinator on rank 0) and all-reduce over gloo on CPU.

The image name matches the sandbox's ``*jax*`` environment (the cached JAX CPU one).
"""

from __future__ import annotations

import pytest

from fedspawner.sandbox.workload import ensure_jax_env

from .test_gateway_support import first_line_with, watched

pytestmark = pytest.mark.sandbox

PSUM_SCRIPT = """
import jax
import jax.numpy as jnp

me, count = jax.process_index(), jax.process_count()
x = jnp.ones(jax.local_device_count()) * (me + 1)
total = jax.pmap(lambda v: jax.lax.psum(v, "i"), axis_name="i")(x)
print(f"process {me} of {count}: psum = {float(total[0])} over {jax.device_count()} devices", flush=True)
"""


async def test_two_jax_processes_psum_across_pods(gw, token_for):
    ensure_jax_env()
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "jax", "name": "jax-psum", "script": PSUM_SCRIPT, "nodes": 2,
                                  "cluster": "onprem", "cpu": "1", "memory": "2Gi"})
    assert (job["backend"], job["nodes"], job["expected_pods"], job["leader"]) == ("indexed-job", 2, 2, "rank 0")
    views = await watched(gw, alice, job["id"])
    final = views[-1]
    assert final["phase"] == "Succeeded", final["message"]
    assert [(p["rank"], p["phase"]) for p in final["pods"]] == [(0, "Succeeded"), (1, "Succeeded")]
    for rank in (0, 1):
        log = await gw.text(f"/jobs/{job['id']}/logs?rank={rank}", alice)
        assert first_line_with(log, f"process {rank} of 2: psum = 3.0 over 2 devices"), log
    await gw.cancel(alice, job["id"])
