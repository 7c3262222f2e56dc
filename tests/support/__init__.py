"""Shared, real test helpers (a loopback HTTP server, …); no mocks of Kiwi's own code."""
