"""Access modes: one implementation per name in ACCESS_MODES, and what each tells the hedger."""

from fedspawner.federation.model import ACCESS_MODES
from fedspawner.spawner import access


def test_every_configurable_mode_has_one_implementation():
    assert sorted(access.MODES) == sorted(ACCESS_MODES)
    for name in ACCESS_MODES:
        assert access.mode(name).name == name and isinstance(access.mode(name), access.Access)


def test_only_routes_made_after_the_start_cannot_be_raced():
    assert {name: access.mode(name).hedgeable for name in ACCESS_MODES} == {
        "direct": True, "ingress": False, "tunnel": True}
