"""Container image references, compared the way a node's image list names them (pure).

A node reports the images it holds in ``status.images[].names`` (``docker.io/library/python:3.11``,
``repo@sha256:…``); a pod names ``python:3.11``. ``image_key`` reduces both to one spelling
(registry, repository, tag; Docker Hub's defaults made explicit and then dropped), so placement
can ask "is this image already there?" with a set lookup.
"""

from __future__ import annotations

__all__ = ["DOCKER_HUB", "image_key", "image_keys"]

DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


def image_key(reference: object) -> str | None:
    """``python:3.11`` and ``docker.io/library/python:3.11`` -> ``python:3.11``; ``repo`` -> ``repo:latest``.

    None for what is not a usable name: a digest-only reference (``repo@sha256:…``, which says
    nothing about tags) or anything that is not a non-empty string.
    """
    if not isinstance(reference, str) or not reference.strip() or "@" in reference:
        return None
    ref = reference.strip().lower()
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "", ref
    if registry in DOCKER_HUB:
        registry = ""
    if not registry and path.startswith("library/"):
        path = path.removeprefix("library/")
    if ":" not in path.rsplit("/", 1)[-1]:
        path += ":latest"
    return f"{registry}/{path}" if registry else path


def image_keys(names: object) -> set[str]:
    """The keys of every name in a node's ``status.images[].names`` list (digests left out)."""
    if not isinstance(names, list):
        return set()
    return {key for key in map(image_key, names) if key}
