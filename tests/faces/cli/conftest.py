"""CLI face tests: a real project, keys, a loopback server."""

from tests.support.http_server import http_server  # noqa: F401 - a fixture
from tests.support.keys import key, other_key, trusted  # noqa: F401 - fixtures
from tests.support.project import project  # noqa: F401 - a fixture
