"""Where a followed log goes on after a reconnect: every line once, none lost (pure parts)."""

from __future__ import annotations

from fedspawner.client.streams import CATCH_UP_LINES, LogResume, SeenLines, SkipSeen


def seen(*lines: str, size: int = 3) -> SeenLines:
    found = SeenLines(size)
    for line in lines:
        found.add(line)
    return found


def test_the_new_lines_of_a_read_follow_the_last_ones_seen():
    assert seen("b", "c").after(["a", "b", "c", "d", "e"]) == ["d", "e"]
    assert seen("b", "c").after(["b", "c"]) == []
    assert seen().after(["a"]) == ["a"]
    assert seen("x", "y").after(["a", "b"]) is None


def test_repeated_lines_resume_at_their_first_place_so_none_is_lost():
    # seen: tick tick (the window holds the last three lines seen); the log since: tick tick tick tick
    assert seen("go", "tick", "tick").after(["go", "tick", "tick", "tick", "tick"]) == ["tick", "tick"]


def test_a_catch_up_read_that_misses_the_seen_lines_says_so():
    resume = LogResume(tail=None)
    resume.shown("old")
    assert resume.caught_up(["new 1", "new 2"])[0].startswith("[fedspawner: the log started over")
    many = [f"l{i}" for i in range(CATCH_UP_LINES)]
    shown = resume.caught_up(many)
    assert "more than" in shown[0] and shown[1:] == many


def test_a_resumed_follow_lets_through_only_what_comes_after_the_seen_lines():
    skip = SkipSeen(["b", "c"], limit=10)
    out = [line for text in ["a", "b", "c", "d", "b", "c", "e"] for line in skip(text)]
    assert out == ["d", "b", "c", "e"]


def test_a_resumed_follow_that_never_meets_the_seen_lines_shows_everything_it_held():
    skip = SkipSeen(["x"], limit=3)
    assert skip("a") == [] and skip("b") == [] and skip("c") == ["a", "b", "c"] and skip("d") == ["d"]
