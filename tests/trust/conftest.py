"""The trust-layer tests' fixtures."""

from tests.support.keys import key, other_key, trusted  # noqa: F401 - fixtures
