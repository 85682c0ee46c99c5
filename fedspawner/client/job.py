"""``Job``: a handle on one job, as the gateway last described it.

The handle is what ``submit``, ``job``, ``attach`` and ``%%fedsubmit`` return.
Its attributes are the gateway's Job fields; ``refresh``, ``cancel``,
``logs`` and ``watch`` act on the job; shown in a notebook it displays its
live status widget (``job.widget``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..jobs.vocabulary import FINISHED, is_finished
from .streams import Stream

if TYPE_CHECKING:
    from .gateway import Gateway
    from .widget import JobWidget

__all__ = ["FINISHED", "Job", "is_finished"]


class Job:
    """One job on a member cluster. ``data`` is the gateway's Job dict as last fetched."""

    def __init__(self, data: dict[str, Any], gateway: Gateway) -> None:
        self.data = dict(data)
        self.gateway = gateway
        self._widget: JobWidget | None = None

    def __getattr__(self, name: str) -> Any:
        # The Job fields (id, name, kind, owner, cluster, backend, gpu_type, gpus_per_node, nodes, image,
        # phase, message, created, started, finished, pods, progress, ui_url, history) as attributes.
        data = self.__dict__.get("data")
        if data is not None and name in data:
            return data[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __repr__(self) -> str:
        where = f" on {self.data['cluster']}" if self.data.get("cluster") else ""
        return (f"<Job {self.data.get('id')} {self.data.get('name')!r} ({self.data.get('kind')}){where}: "
                f"{self.data.get('phase')}>")

    @property
    def done(self) -> bool:
        """Whether the job has ended (Succeeded, Failed or Cancelled)."""
        return is_finished(self.data)

    def refresh(self) -> Job:
        """Fetch the job's current state into this handle."""
        self.data = self.gateway.job(self.data["id"]).data
        return self

    def cancel(self) -> Job:
        """Cancel the job (every object of it is deleted from its cluster)."""
        self.data = self.gateway.cancel(self.data["id"]).data
        return self

    def logs(self, rank: int = 0, tail: int | None = None, follow: bool = False) -> Stream[str]:
        """A rank's log lines; see ``Gateway.logs``."""
        return self.gateway.logs(self.data["id"], rank=rank, tail=tail, follow=follow)

    def watch(self) -> Stream[dict[str, Any]]:
        """The job's changes as Job dicts; see ``Gateway.watch``."""
        return self.gateway.watch(self.data["id"])

    @property
    def widget(self) -> JobWidget:
        """The live status widget (created, and following the job, on first use; needs an event loop)."""
        if self._widget is None or self._widget.closed:
            from .widget import JobWidget

            self._widget = JobWidget(self.data, self.gateway)
            self._widget.follow()
        return self._widget

    def _ipython_display_(self) -> None:
        from .output import in_kernel

        if in_kernel():
            from IPython.display import display

            display(self.widget)
        else:
            print(repr(self))
