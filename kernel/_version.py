"""The kernel's version, in a module of its own so nothing inside the kernel imports its face."""

__version__ = "0.1.0"
