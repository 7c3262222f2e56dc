"""Kiwi's registry server (SPEC §16): shared items on PostgreSQL, publishers bound to keys.

A separate application next to the kernel: it may use the kernel's pure hashing and
signature checks (``kernel.core``, ``kernel.trust``), and the kernel never imports it (only
``kiwi registry serve`` does, lazily). Clients reach it over HTTP through the registry tools.
"""
