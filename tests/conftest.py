"""Root test configuration: plugins shared by every test folder."""

pytest_plugins = [
    "tests.support.cloud_session",
    "tests.platform",
    "tests.api_fixtures",
    "tests.support.spans",
    "tests.support.webhook",
]
