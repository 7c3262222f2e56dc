"""Kiwi as installed: ``kiwi_mcp.kernel`` and ``kiwi_mcp.primitives``.

The repository keeps ``kernel/`` and ``primitives/`` at its top; this package is the one
namespace they are installed under (SPEC §2), so no other distribution's top-level
``kernel`` or ``primitives`` can shadow them.
"""
