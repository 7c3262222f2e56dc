"""End-to-end execute tests: a real project driven through ``kiwi``, a loopback server."""

from tests.support.http_server import http_server  # noqa: F401 - a fixture
from tests.support.project import project  # noqa: F401 - a fixture
