"""The trust layer (SPEC §4.1, §9). Import its modules by name; this file stays empty."""
