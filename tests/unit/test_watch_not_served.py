"""A watched resource the apiserver stops (or never starts) serving reads as empty and synced."""

from __future__ import annotations

import asyncio
import json

from fedspawner.federation.watch import ResourceWatch


class Answer:
    """A raw (``_preload_content=False``) answer: a status and a body."""

    def __init__(self, status: int, body: dict):
        self.status, self._body = status, json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        pass


def lister(answers: list[Answer]):
    async def list_fn(**kwargs):
        if kwargs.get("watch"):
            await asyncio.sleep(3600)  # a quiet watch
        return answers.pop(0) if len(answers) > 1 else answers[0]
    return list_fn


ITEM = {"metadata": {"namespace": "ns", "name": "a"}}
LISTED = Answer(200, {"items": [ITEM], "metadata": {"resourceVersion": "5"}})
GONE = Answer(404, {"kind": "Status", "message": "the server could not find the requested resource"})


async def test_a_resource_never_served_is_synced_and_empty():
    watch = ResourceWatch(lister([GONE]), name="trainjobs")
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.wait_for(watch.synced.wait(), 2)
        assert watch.objects == {}
    finally:
        task.cancel()


async def test_a_resource_that_goes_away_empties_the_copy():
    changes = []
    watch = ResourceWatch(lister([LISTED, GONE]), name="trainjobs", on_change=lambda kind, _: changes.append(kind))
    await watch._list()
    assert list(watch.objects) == ["ns/a"]
    watch._not_served()
    assert watch.objects == {} and changes == ["RELIST", "RELIST"] and watch.synced.is_set()
