"""Pure checks of zero-to-jupyterhub values: helm's merge and fedspawner's own keys."""

from fedspawner.deploy.helm_values import federation_problems, merge_values


def fed(**federation):
    return {"hub": {"config": {"JupyterHub": {"spawner_class": "fedspawner"}, "Federation": federation}}}


def test_merge_is_deep_later_wins_null_removes_lists_replace():
    base = {"hub": {"image": {"name": "a", "tag": "1"}, "extraEnv": {"A": "1"}}, "list": [1, 2], "gone": 1}
    out = merge_values(base, {"hub": {"image": {"tag": "2"}}, "list": [3], "gone": None})
    assert out == {"hub": {"image": {"name": "a", "tag": "2"}, "extraEnv": {"A": "1"}}, "list": [3]}
    assert base["hub"]["image"]["tag"] == "1"  # inputs untouched


def test_clean_values_have_no_problems():
    values = fed(clusters=[{"name": "a", "kubeconfig": "/k", "context": "a"}], placement_policy="spread")
    values["singleuser"] = {"profileList": [{"slug": "x", "gpu": {"type": "nvidia-l4", "count": 1},
                                             "clusters": {"allowed": ["a"], "locality": {"d": "x"}}}]}
    assert federation_problems(values) == []


def test_misspelt_federation_setting_is_named():
    problems = federation_problems(fed(placement_polcy="pack"))
    assert len(problems) == 1 and problems[0].startswith("hub.config.Federation.placement_polcy is not")


def test_misspelt_cluster_field_is_named_with_its_index():
    problems = federation_problems(fed(clusters=[{"name": "a", "kubeconfig": "/k"},
                                                 {"name": "b", "kubeconfg": "/k"}]))
    assert problems == [problems[0]] and problems[0].startswith("hub.config.Federation.clusters[1].kubeconfg")


def test_misspelt_profile_extension_is_named():
    values = fed()
    values["singleuser"] = {"profileList": [{"slug": "x", "gpu": {"typ": "nvidia-l4"}}]}
    assert federation_problems(values)[0].startswith("singleuser.profileList[0].gpu.typ is not known")


def test_spawner_must_be_fedspawner():
    values = fed()
    values["hub"]["config"]["JupyterHub"]["spawner_class"] = "kubespawner.KubeSpawner"
    assert "set it to 'fedspawner'" in federation_problems(values)[0]
