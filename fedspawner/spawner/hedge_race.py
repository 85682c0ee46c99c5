"""The hedged race itself: the spawner's usual attempt on one cluster, a standby on another.

``race`` is called by ``FederatedKubeSpawner`` with the two candidates ``hedge.hedge_pair``
chose. It narrates every step, leaves exactly one server (the first Ready), configures
the spawner for the winner (so its state, ``poll`` and ``stop`` act there), and returns
the server's URL, or None with the failures when neither started.
"""

from __future__ import annotations

import asyncio
import time

from jupyterhub.utils import maybe_future
from kubernetes_asyncio.client.rest import ApiException

from ..federation import failover
from . import attempts, baseline
from .hedge import Standby


def _configure(spawner, registry, candidate, gpu_count: int, after_profile: dict, rid: str) -> None:
    baseline.restore(spawner, after_profile)
    spawner._use_cluster(candidate.cluster)
    spawner._attempt_id = rid  # both racers carry the race's id; the winner is marked kept
    spawner._apply_target(registry, candidate, gpu_count)


async def _standby(spawner, registry, candidate, gpu_count: int, after_profile: dict, rid: str) -> Standby:
    """The standby's pod manifest, built exactly as the spawner builds its own for that cluster."""
    _configure(spawner, registry, candidate, gpu_count, after_profile, rid)
    manifest = await spawner.get_pod_manifest()
    if spawner.modify_pod_hook:
        manifest = await maybe_future(spawner.modify_pod_hook(spawner, manifest))
    return Standby(registry, candidate.cluster, spawner.namespace, manifest, rid)


async def _adopt(spawner, registry, candidate, gpu_count: int, after_profile: dict, rid: str,
                 standby: Standby) -> str:
    """Make the standby the spawner's server: configure for its cluster, watch it, return its URL."""
    _configure(spawner, registry, candidate, gpu_count, after_profile, rid)
    await spawner._start_watching_pods()
    if spawner.events_enabled:
        await spawner._start_watching_events()
    key = f"{spawner.namespace}/{spawner.pod_name}"
    for _ in range(200):
        pod = spawner.pod_reflector.pods.get(key)
        if pod is not None and spawner.is_pod_running(pod):
            break
        await asyncio.sleep(0.05)
    else:
        raise failover.Failover("its pod was Ready but is not seen running")
    spawner._attempt_began = standby.created_at
    url = await spawner._access().url(spawner, spawner._get_pod_url(pod))
    try:
        await standby.keep()
    except (ApiException, OSError, asyncio.TimeoutError) as err:
        raise failover.Failover(failover.reason_for_exception(err) or f"could not keep its pod ({err})") from None
    return url


async def _cancel(task: asyncio.Future | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def race(spawner, registry, first, second, gpu_count: int, deadline: float,
               after_profile: dict) -> tuple[str | None, list[str]]:
    """Race ``first`` (the spawner's own attempt) against a standby on ``second``."""
    rid = attempts.new_id()
    try:
        standby = await _standby(spawner, registry, second, gpu_count, after_profile, rid)
    except failover.Failover as err:
        spawner._narrate(f"{second.cluster}: {err} — not hedging")
        return None, []
    _configure(spawner, registry, first, gpu_count, after_profile, rid)
    spawner._narrate(f"{first.reason} — starting there; hedging with a standby on {second.cluster} "
                     f"({second.reason}); the first one Ready is kept")
    spawner._hedge_standby = standby
    failures: list[str] = []
    primary = asyncio.ensure_future(spawner._attempt(registry, first, deadline))
    primary_alive, winner, watch = True, None, None
    try:
        try:
            await asyncio.wait_for(standby.create(), max(deadline - time.monotonic(), 0.1))
            watch = asyncio.ensure_future(standby.outcome())
        except (ApiException, OSError, asyncio.TimeoutError) as err:
            reason = failover.reason_for_exception(err) or f"could not create the standby ({err})"
            failures.append(f"{second.cluster}: {reason}")
            spawner._narrate(f"{second.cluster}: {reason} — the race goes on without a standby")
        pending = {t for t in (primary, watch) if t is not None}
        while pending:
            done, pending = await asyncio.wait(pending, timeout=max(deadline - time.monotonic(), 0.1),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            if primary in done:
                exc = primary.exception()
                if exc is None:
                    winner = first
                    await _cancel(watch)
                    await standby.delete()
                    spawner._narrate(f"{first.cluster}: Ready first — deleted the standby on {second.cluster}")
                    return primary.result(), failures
                if not isinstance(exc, failover.Failover):
                    raise exc
                failures.append(f"{first.cluster}: {exc}")
                await spawner._abandon_attempt()
                primary_alive = False
                spawner._narrate(f"{first.cluster}: {exc} — " + (
                    f"waiting for the standby on {second.cluster}" if watch in pending else "no standby left"))
            if watch is not None and watch in done:
                exc = watch.exception()
                if exc is None:
                    winner = second
                    await _cancel(primary)
                    if primary_alive:
                        await spawner._abandon_attempt()
                        primary_alive = False
                    spawner._narrate(f"{second.cluster}: Ready first — deleted the server on {first.cluster}")
                    try:
                        return await _adopt(spawner, registry, second, gpu_count, after_profile, rid,
                                            standby), failures
                    except failover.Failover as err:  # gone between Ready and adoption
                        winner = None
                        failures.append(f"{second.cluster}: {err}")
                        return None, failures
                if not isinstance(exc, failover.Failover):
                    raise exc
                failures.append(f"{second.cluster}: {exc}")
                await standby.delete()
                spawner._narrate(f"{second.cluster}: {exc} — deleted the standby")
        for task, cluster in ((primary, first.cluster), (watch, second.cluster)):
            if task is not None and not task.done():
                failures.append(f"{cluster}: did not start in time")
        return None, failures
    finally:
        # Whatever ended the race (a loss, the deadline, the hub cancelling the start),
        # only the winner's pod may remain.
        await _cancel(primary)
        await _cancel(watch)
        spawner._hedge_standby = None
        if winner is not second:
            await standby.delete()
        if winner is None and primary_alive:
            _configure(spawner, registry, first, gpu_count, after_profile, rid)
            await spawner._abandon_attempt()
