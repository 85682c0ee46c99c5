"""Pure parts of a session's live progress (kernel side) and of its Spark UI proxy (gateway side)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fedspawner.client.spark_progress import QueryProgress, Snapshot, StageState, progress_html, progress_text
from fedspawner.gateway.session_ui import UiUnavailable, parse_answer, rewrite_location, ui_request
from fedspawner.gateway.sessions_handlers import split_ui_path

PREFIX = "/services/fedspawner-gateway/api/v1/sessions/s-abcd2345/ui/"


def stage(stage_id, tasks, completed, read=0, done=False):
    return SimpleNamespace(stage_id=stage_id, num_tasks=tasks, num_completed_tasks=completed, num_bytes_read=read,
                           done=done)


class Handle:
    def __init__(self, shown: list):
        self.shown = shown

    def update(self, bundle, raw):
        assert raw is True
        self.shown.append(("update", bundle["text/plain"]))


class Screen:
    """A display function that records what it showed, and a clock the test moves."""

    def __init__(self):
        self.shown: list = []
        self.now = 100.0

    def display(self, bundle):
        self.shown.append(("display", bundle["text/plain"]))
        return Handle(self.shown)


def test_a_query_gets_one_display_updated_in_place_at_most_once_per_interval_and_a_final_line():
    screen = Screen()
    progress = QueryProgress("/ui/", interval=0.25, display=screen.display, clock=lambda: screen.now)
    progress([stage(0, 4, 0)], 1, "op-1", False)
    screen.now += 0.1
    progress([stage(0, 4, 1)], 1, "op-1", False)  # inside the interval: folded
    screen.now += 0.2
    progress([stage(0, 4, 2)], 1, "op-1", False)
    screen.now += 0.3
    progress([stage(0, 4, 2)], 1, "op-1", False)  # nothing changed: no redraw
    screen.now += 0.3
    progress([stage(0, 4, 4, 2048, True), stage(1, 2, 0)], 2, "op-1", False)
    screen.now += 0.05
    progress([stage(0, 4, 4, 2048, True), stage(1, 2, 2, 0, True)], 0, None, True)  # the end: never dropped
    assert screen.shown == [
        ("display", "Spark: stage 1 of 1 · tasks 0/4 (1 running) · 0 B read · 0.0s"),
        ("update", "Spark: stage 1 of 1 · tasks 2/4 (1 running) · 0 B read · 0.3s"),
        ("update", "Spark: stage 2 of 2 · tasks 4/6 (2 running) · 2.0 KiB read · 0.9s"),
        ("update", "Spark: 2 stages, 6/6 tasks, 2.0 KiB read in 0.9s"),
    ]
    assert progress.renders == 4


def test_queries_without_spark_jobs_show_nothing_and_each_query_gets_its_own_display():
    screen = Screen()
    progress = QueryProgress(display=screen.display, clock=lambda: screen.now)
    progress([], 0, "schema-only", True)
    assert screen.shown == []
    progress([stage(0, 1, 0)], 1, "a", False)
    progress([stage(0, 1, 1, done=True)], 0, "a", True)
    progress([stage(3, 2, 0)], 1, "b", False)
    assert [kind for kind, _ in screen.shown] == ["display", "update", "display"]


def test_the_display_shows_a_bar_per_stage_while_running_and_the_ui_link():
    running = Snapshot((StageState(0, 10, 5, 0, False), StageState(1, 4, 0, 0, False)), 2, 1.5, False, "/a&b/ui/")
    page = progress_html(running)
    assert 'data-state="running"' in page and page.count(">stage ") == 2 and "width:50%" in page
    assert 'href="/a&amp;b/ui/"' in page  # escaped
    done = Snapshot(running.stages, 0, 2.0, True)
    assert 'data-state="done"' in progress_html(done) and "width:" not in progress_html(done)
    assert progress_text(Snapshot((StageState(0, 1, 1, 3 * 2**20, True),), 0, 1.0, True)) == \
        "Spark: 1 stage, 1/1 tasks, 3.0 MiB read in 1.0s"


def test_ui_requests_name_the_prefix_spark_writes_its_links_under():
    request = ui_request("/jobs/?id=1", PREFIX).decode()
    assert request.startswith("GET /jobs/?id=1 HTTP/1.0\r\n") and request.endswith("\r\n\r\n")
    assert f"X-Forwarded-Context: {PREFIX.rstrip('/')}\r\n" in request


def test_answers_are_parsed_once_their_head_is_whole():
    assert parse_answer(b"HTTP/1.1 200 OK\r\nContent-Type: text/html") is None
    status, headers, body = parse_answer(b"HTTP/1.1 302 Found\r\nLocation: http://x:4040/jobs/\r\n"
                                         b"Content-Length: 0\r\n\r\n")
    assert (status, dict(headers)["location"], body) == (302, "http://x:4040/jobs/", b"")
    with pytest.raises(UiUnavailable, match="other than HTTP"):
        parse_answer(b"\x00\x00\x04SSH-2.0\r\n\r\n")


@pytest.mark.parametrize("location,expected", [
    ("http://10.0.0.7:4040/jobs/", PREFIX + "jobs/"),  # Jetty's absolute redirect: onto the browser's origin
    ("/stages/stage/?id=3&attempt=0", PREFIX + "stages/stage/?id=3&attempt=0"),
    (PREFIX + "jobs/", PREFIX + "jobs/"),  # already under the prefix
    ("jobs/", "jobs/"),  # relative: the browser resolves it under the prefix itself
])
def test_redirects_stay_under_the_prefix(location, expected):
    assert rewrite_location(location, PREFIX) == expected


def test_ui_paths_split_into_prefix_and_page():
    assert split_ui_path(PREFIX + "stages/stage/") == (PREFIX, "/stages/stage/")
    assert split_ui_path(PREFIX.rstrip("/")) == (PREFIX, "")
    assert split_ui_path(PREFIX) == (PREFIX, "/")
    nested = split_ui_path("/api/v1/sessions/s-1/ui/api/v1/sessions/s-2/ui/x")
    assert nested == ("/api/v1/sessions/s-1/ui/", "/api/v1/sessions/s-2/ui/x")


def test_every_gateway_replica_signs_cookies_with_the_same_secret():
    from tornado import web

    from fedspawner.gateway.browser_auth import enable_cookies
    first, second, other = web.Application(), web.Application(), web.Application()
    for app, token in ((first, "service-token"), (second, "service-token"), (other, "rotated-token")):
        enable_cookies(app, token)
    assert first.settings["cookie_secret"] == second.settings["cookie_secret"]  # replicas read each other's
    assert first.settings["cookie_secret"] != other.settings["cookie_secret"]  # a new token signs anew
    assert "service-token" not in first.settings["cookie_secret"]
