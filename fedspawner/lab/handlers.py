"""The Lab server extension's REST API: what the browser calls, forwarded to the gateway.

Every route lives under ``{base_url}fedspawner/`` (e.g. ``/user/alice/fedspawner/jobs``
on a hub, ``/fedspawner/jobs`` in a plain ``jupyter lab``), answers JSON unless said
otherwise, and needs the usual Jupyter server authentication (the browser's cookie and
``X-XSRFToken`` header, as ``@jupyterlab/services``' ``ServerConnection`` sends them);
an unauthenticated request gets 403. The server forwards each call to the fedspawner
gateway with its own ``JUPYTERHUB_API_TOKEN``: the browser never sees that token or any
cluster credential.

Errors, on every route: ``{"message": "<one paragraph for people>", "reason": "<code>"}``
with these statuses and reasons:

- the gateway's own 4xx status and message, reason ``bad_request`` (400), ``unauthorized``
  (401), ``forbidden`` (403), ``not_found`` (404), ``unsatisfiable`` (422) or ``gateway``
  (any other 4xx);
- 503 ``not_configured``: no gateway is configured (a ``jupyter lab`` without a hub); the
  message says to set ``FEDSPAWNER_GATEWAY_URL`` (and ``JUPYTERHUB_API_TOKEN``) or
  ``c.FedspawnerLabApp.gateway_url``;
- 503 ``unreachable``: the gateway did not answer (down, restarting, timed out), or said
  a member cluster did not answer (its own 503); the panel should back off and retry;
- 502 ``gateway``: the gateway failed (its 5xx), with its message;
- 400 ``bad_request`` for malformed input to this server itself (bad query values, a body
  that is not JSON). Never a 500 for anything a user can cause.

Routes
------
``GET config``
    ``{"configured": bool, "gateway_url": str | null, "user": str | null,
    "is_admin": bool, "reachable": bool | null, "message": str | null,
    "hint": str | null, "version": "<fedspawner version>"}``. Always 200 (also when no
    gateway is configured or it is down): ``configured`` says whether a gateway URL and
    token are known; ``reachable`` whether the gateway answered just now (null when not
    configured); ``user``/``is_admin`` are the gateway's answer for this server's token
    (``is_admin``: may use ``all=1``); ``hint`` says how to configure the gateway when it
    is not; ``message`` why it is unreachable.

``GET clusters[?since=VERSION&wait=SECONDS]``
    ``{"version": str, "clusters": [Cluster, ...]}`` — the gateway's ``Cluster`` objects
    (name, site, owner, healthy, health_reason, GPU types with free counts, exact or "up
    to", backends, ``taken_at``). With ``since`` (the last answer's ``version``) the
    answer waits up to ``wait`` seconds (default 25, at most 30) until what this user
    sees changes, then answers at once; after ``wait`` it answers the same version.

``GET options``
    The option schema, the one source of truth for the submit dialog and ``%%fedsubmit``:
    ``{"version": str, "options": [Option, ...], "kinds": [...], "clusters": [...],
    "gpu_types": [{"name", "display", "clusters"}...]}``. Each ``Option``:
    ``{"name", "label", "type", "help", "default", "kinds": [kinds it applies to],
    "required", "flag"}`` plus per type ``choices`` (``enum``), ``minimum``/``maximum``
    (``integer``), ``pattern``/``max_length`` (``string``, regexes valid in Python and
    JavaScript), ``item_pattern``/``max_items``/``item_max_length`` (``list``),
    ``key_pattern``/``max_items``/``value_max_length``/``reserved_keys``/
    ``reserved_prefixes`` (``mapping``), ``count_minimum``/``count_maximum`` and
    ``choices`` (``gpus``: canonical types known to the federation), ``choices`` and
    ``max_items`` (``clusters``: ``"auto"`` or an ordered list of member names). The
    gateway re-checks everything on submission; the schema is for early, identical
    messages.

``GET jobs[?since=VERSION&wait=SECONDS&all=1&state=STATE]``
    The caller's jobs feed: ``{"version": str, "jobs": [JobRow, ...], "unavailable":
    [{"cluster", "reason"}, ...]}``, newest first. ``state`` is one of pending, running,
    succeeded, failed; ``all=1`` (admins only, else 403) lists every user's jobs. With
    ``since``, waits up to ``wait`` seconds (default 25, at most 30) until this view
    changes and answers within a second of a pod changing phase; otherwise at once.
    ``JobRow``: ``{"id", "name", "kind", "owner", "cluster", "backend", "gpu_type",
    "gpu_display", "gpus_per_node", "nodes", "phase", "message", "ranks": {"ready",
    "total"}, "created", "started", "finished", "origin": {"path", "cell"} | null}``.
    Phases: Pending, Running, Succeeded, Failed (a cancelled job leaves the feed).

``POST jobs``
    Body: a job spec (``kind``, ``script`` and the options above: ``name``, ``cluster``,
    ``gpus`` as ``{"type", "count"}`` or ``"TYPE:N"``, ``nodes``, ``image``, ``packages``,
    ``env``, ``executors``, ``conf``, ``cpu``, ``memory``, ``language``, ``retries``,
    ``timeout``) plus optional ``origin``: ``{"path": "<notebook path, relative to the
    server root>", "cell": "<nbformat cell id>" (optional)}``. 201 ``{"job": Job}``.

``GET jobs/{id}``
    ``{"job": Job}``: the gateway's full ``Job`` (phase, message, ``pods`` per rank with
    role/phase/ready/reason, progress, ``ui_url`` for Spark, history, ``origin``) plus
    ``"spec"``: the submitted spec (script included, with its ``cluster`` request) that
    ``POST jobs`` accepts as is, to resubmit.

``DELETE jobs/{id}``
    Cancel: 200 ``{"job": Job}`` (phase ``Cancelled``) once every object is deleted.

``GET jobs/{id}/logs?rank=R&tail=N&follow=1&container=NAME``
    ``text/plain`` of one rank (rank 0: the driver for Spark), streamed as it arrives.
    With ``follow=1`` the answer starts at once and waits for a pending pod to start,
    then streams until the pod ends or the client goes; without it, the log so far.
    ``download=1``: the whole log so far as an attachment
    (``Content-Disposition: attachment; filename="<name>-<id>-rank<R>.log"``).
    Errors before the stream starts are JSON as above.
"""
