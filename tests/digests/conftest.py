from tests.harness.notify_fixtures import _slack_server, _smtp_server, slack, smtp  # noqa: F401
