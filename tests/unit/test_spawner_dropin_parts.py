"""Pure parts of the KubeSpawner drop-in: form parsing, namespace checks of profiles, the PVC
location in the spawner state."""

from __future__ import annotations

import pytest

from fedspawner.federation.config import FederationConfigError, MemberCluster
from fedspawner.spawner import namespaces, options
from fedspawner.spawner.storage import PvcLocation

MEMBERS = [MemberCluster(name="onprem", display_name="Campus", namespace="jhub"),
           MemberCluster(name="burst", display_name="Burst", namespace="notebooks")]


def test_a_form_without_gpu_fields_adds_no_gpu_keys():
    assert options.options_from_form({"profile": ["cpu"], "cluster": ["auto"]}) == {"profile": "cpu",
                                                                                    "cluster": "auto"}
    assert options.options_from_form({"gpu_count": [""]})["gpu_count"] == 0


@pytest.mark.parametrize("profile,message", [
    ({"slug": "p", "kubespawner_override": {"namespace": "team-a"}},
     "profile 'p': field 'kubespawner_override.namespace' is 'team-a', which no member cluster grants the hub "
     "(granted: onprem: jhub, burst: notebooks)"),
    ({"slug": "p", "clusters": {"allowed": ["onprem"]}, "kubespawner_override": {"namespace": "notebooks"}},
     "'notebooks', which no member cluster the profile may use grants the hub (granted: onprem: jhub)"),
    ({"slug": "p", "profile_options": {"where": {"choices": {"lab": {"kubespawner_override": {"namespace": "x"}}}}}},
     "field 'profile_options.where.choices.lab.namespace' is 'x'"),
])
def test_profile_namespaces_no_member_grants_are_refused(profile, message):
    with pytest.raises(FederationConfigError) as err:
        namespaces.check_profiles([profile], MEMBERS, user_namespaces=False)
    assert message in str(err.value)


@pytest.mark.parametrize("profiles,user_namespaces", [
    ([{"slug": "p", "kubespawner_override": {"namespace": "notebooks"}}], False),  # burst grants it
    ([{"slug": "p", "kubespawner_override": {"namespace": "team-a"}}], True),  # the hub makes namespaces
    ([{"slug": "p", "profile_options": {"n": {"unlisted_choice": {"kubespawner_override": {
        "namespace": "{value}"}}}}}], False),  # known only per start
    (lambda spawner: [], False),  # a callable list is checked per start
])
def test_profile_namespaces_that_can_work_pass(profiles, user_namespaces):
    namespaces.check_profiles(profiles, MEMBERS, user_namespaces=user_namespaces)


def test_pvc_location_round_trips_through_the_state():
    location = PvcLocation("burst", "notebooks")
    assert PvcLocation.from_state({"pvc_location": location.to_state()}) == location
    for state in ({}, {"pvc_location": "burst"}, {"pvc_location": {"cluster": "burst"}}):
        assert PvcLocation.from_state(state) is None
