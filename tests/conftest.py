"""Fixtures shared by the tests, loaded as plug-ins: one module per topic.

pytest accepts ``pytest_plugins`` only in this top-level conftest; the modules live next to
the integration tests that use them.
"""

pytest_plugins = [
    "tests.integration.sandbox_fixtures",
    "tests.integration.hub_fixtures",
    "tests.integration.gateway_fixtures",
    "tests.integration.credentials_fixtures",
    "tests.background_builds",
]
