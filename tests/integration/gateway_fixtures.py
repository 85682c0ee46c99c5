"""Fixtures for the jobs gateway the test hub runs as a service (``gateway_up``, ``gw``, ``token_for``).

Loaded as a plug-in by ``tests/conftest.py``; the gateway's test client and helpers are in
``test_gateway_support``.
"""

from __future__ import annotations

import aiohttp
import pytest

from .test_gateway_support import Gateway, wait_healthy


@pytest.fixture(scope="session")
async def gateway_up(hub):
    await wait_healthy()
    return hub


@pytest.fixture
async def gw(gateway_up):
    # tests that restart the hub leave a few seconds in which the gateway's route is missing
    await wait_healthy()
    async with aiohttp.ClientSession() as session:
        client = Gateway(session)
        try:
            yield client
        finally:
            await client.cleanup()


@pytest.fixture(scope="session")
def token_for(hub_api_client):
    """``token_for("alice")``: a fresh JupyterHub API token of that user (created if needed)."""
    cache: dict[str, str] = {}

    def make(name: str) -> str:
        if name not in cache:
            status, _ = hub_api_client.request("POST", f"/users/{name}")
            assert status in (201, 409), status
            status, answer = hub_api_client.request("POST", f"/users/{name}/tokens",
                                                    {"note": "gateway tests"})
            assert status in (200, 201), answer
            cache[name] = answer["token"]
        return cache[name]

    return make
