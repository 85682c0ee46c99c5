from fedspawner.federation.timestamps import epoch


def test_kubernetes_timestamps_become_epoch_seconds_or_none():
    assert epoch("1970-01-01T00:01:40Z") == 100.0
    assert epoch("1970-01-01T00:01:40+00:00") == 100.0
    assert epoch("yesterday") is None and epoch("") is None and epoch(None) is None
