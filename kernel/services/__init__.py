"""Kernel services (SPEC §8), one package each; they do not import each other."""
