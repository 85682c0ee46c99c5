"""``%%fedsubmit`` in a real kernel asks the gateway about kinds: a removed kind gets one line saying
why and what to use instead; a kind module's job (jax) is submitted like any other."""

from __future__ import annotations

import pytest

from .test_client_notebook import Notebook, kernel_env  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.sandbox


async def test_fedsubmit_of_a_removed_kind_says_what_to_use(sandbox, kernel_env):  # noqa: F811
    async with Notebook("client-kinds", kernel_env) as nb:
        await nb.run("%load_ext fedspawner")
        out = await nb.run("%%fedsubmit tensorflow --nodes 2\nprint(1)")
        assert out.startswith("fedspawner: ") and "Traceback" not in out, out
        assert "Kind 'tensorflow' was removed" in out and "kind 'job'" in out, out
        assert len(out.strip().splitlines()) <= 3, out
