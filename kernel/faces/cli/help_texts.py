"""A description and examples for every ``kiwi`` subcommand's ``--help`` (SPEC §11), kept in
one table so none is forgotten; ``fill`` adds them where a command module set none."""

from __future__ import annotations

import argparse

__all__ = ["fill"]

#: command path → (description, examples)
TEXTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "threads start": (
        "Start a directive as a thread: its own process, an LLM following it with a token of"
        " the directive's <permissions> and its <limits>. Prints the id at once.",
        ("kiwi threads start code/review -p path=src", "kiwi --json threads start summarise"),
    ),
    "threads list": (
        "The threads of this project, newest first: status, turn, spend, flags (a runner"
        " that died shows as orphaned).",
        ("kiwi threads list", "kiwi threads list --status running"),
    ),
    "threads show": (
        "One thread's record (SPEC 13.9) with its transcript checked: exit 1 when a line was"
        " changed (transcript.first_bad_seq names it).",
        ("kiwi --json threads show summarise_20261202_101500",),
    ),
    "threads tail": (
        "A thread's transcript, one line per event; -f follows it until the thread ends;"
        " --json prints the raw events.",
        ("kiwi threads tail -f summarise_20261202_101500",),
    ),
    "threads cancel": (
        "Stop a thread now: the LLM stream and the running tool are stopped, and it ends"
        " cancelled. --after-turn lets the current turn finish first.",
        ("kiwi threads cancel summarise_20261202_101500", "kiwi threads cancel ID --after-turn"),
    ),
    "threads pause": (
        "Pause a thread at its next turn boundary (nothing is cut off); 'kiwi threads resume'"
        " goes on from there.",
        ("kiwi threads pause summarise_20261202_101500",),
    ),
    "threads fork": (
        "Start a new thread whose history is another's verified transcript up to --at SEQ;"
        " it goes on from there with the same directive, limits and capabilities.",
        ("kiwi threads fork summarise_20261202_101500 --at 12",),
    ),
    "threads replay": (
        "Replay a thread's recorded LLM turns (no LLM, no cost): calls that cannot repeat an"
        " effect run again and are compared with the record; exit 1 when a result differs.",
        ("kiwi threads replay summarise_20261202_101500",),
    ),
    "threads inject": (
        "Send the model a message at the thread's next turn boundary; --expect-turn N refuses"
        " it if the thread has moved past turn N.",
        ("kiwi threads inject ID 'use the cached copy' --expect-turn 3",),
    ),
    "threads resume": (
        "Start a runner again for an orphaned or paused thread: results already journaled"
        " are reused; an unfinished call is re-run only if its tool is read_only or"
        " idempotent, else the thread pauses (or --unknown-as-error answers it as failed).",
        ("kiwi threads resume summarise_20261202_101500 --unknown-as-error",),
    ),
    "init": (
        "Scaffold .ai/ here (or in --project): an example tool, the agents' policy, both signed"
        " with your key (made if you have none). Never overwrites a file.",
        ("kiwi init", "kiwi --project ~/app init"),
    ),
    "run": (
        "Run a tool through its chain, with the agents' policy (--as-operator lifts it, on the"
        " record). -p values are coerced by the tool's schema; --json prints the envelope.",
        ("kiwi run hello -p name=Ada", 'kiwi --json run weather --params \'{"city": "Oslo"}\''),
    ),
    "resolve": (
        "Show a tool's chain, the spaces and shadowed files, the merged config (secrets"
        " redacted) and the lockfile status, without running it.",
        ("kiwi resolve hello", "kiwi --json resolve weather -p city=Oslo"),
    ),
    "show": (
        "Show one item as parsed, with its space, path and what it shadows.",
        ("kiwi show tool runtimes/python", "kiwi --json show directive code/review"),
    ),
    "search": (
        "Find items by keywords across the project, user and system spaces.",
        ("kiwi search weather", "kiwi search review --kind directive --limit 5"),
    ),
    "lockfile freeze": (
        "Verify a tool's chain and pin it (ids, versions, hashes) in .ai/lockfiles/.",
        ("kiwi lockfile freeze weather",),
    ),
    "lockfile validate": (
        "Compare a tool's chain with its lockfile and show what drifted.",
        ("kiwi lockfile validate weather",),
    ),
    "lockfile list": ("List the lockfiles of the project and the user.", ("kiwi lockfile list",)),
    "lockfile prune": (
        "Remove the project's lockfiles not used for DAYS days.",
        ("kiwi lockfile prune --older-than 30",),
    ),
    "lockfile refresh": (
        "Re-freeze every lockfile whose chain goes through a tool (after reviewing its change).",
        ("kiwi lockfile refresh runtimes/python",),
    ),
    "keys init": (
        "Make your Ed25519 signing key in the user space and trust it (kept if it exists).",
        ("kiwi keys init",),
    ),
    "keys show": ("Print your public key and its fingerprint.", ("kiwi keys show",)),
    "trust add": (
        "Trust another signer's public key (a PEM file), so items it signed run.",
        ("kiwi trust add colleague.pub",),
    ),
    "trust list": ("List the trusted signers.", ("kiwi trust list",)),
    "trust remove": (
        "Stop trusting a signer (by fingerprint); its items no longer run under 'signed'.",
        ("kiwi trust remove 3f2a…",),
    ),
    "audit verify": (
        "Check the project's audit log: an unbroken hash chain, the first bad line if not.",
        ("kiwi audit verify",),
    ),
    "audit tail": (
        "Print the newest audit records, one human line each (JSON with --json).",
        ("kiwi audit tail", "kiwi --json audit tail -n 50"),
    ),
    "auth signin": (
        "Store a credential for a service (token from stdin, never argv), in the OS keyring"
        " or the user space's 0600 file.",
        ("printf '%s' \"$TOKEN\" | kiwi auth signin weather --token-stdin --scopes read",),
    ),
    "auth logout": ("Forget a service's credential.", ("kiwi auth logout weather",)),
    "auth status": (
        "Show the credential backend and each service's status (never a secret).",
        ("kiwi auth status", "kiwi --json auth status"),
    ),
    "warm status": (
        "Whether this Kiwi's warm process runs (its pid), its socket, and whether KIWI_WARM=0"
        " turns it off here.",
        ("kiwi warm status", "kiwi --json warm status"),
    ),
    "warm start": (
        "Start the warm process now and wait until it takes commands (a short command starts"
        " it by itself when none answers).",
        ("kiwi warm start",),
    ),
    "warm stop": (
        "Stop the warm process: it takes no more commands, the running ones finish; the next"
        " short command starts a new one.",
        ("kiwi warm stop", "KIWI_WARM=0 kiwi run hello"),
    ),
}


def fill(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Give each subcommand without a description or examples the table's."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            here = f"{path} {name}".strip()
            text = TEXTS.get(here)
            if text is not None:
                if not sub.description:
                    sub.description = text[0]
                if not sub.epilog:
                    sub.epilog = "examples: " + " | ".join(text[1])
            fill(sub, here)
