"""``kiwi completion bash|zsh|fish``: a shell completion script for commands, subcommands and
options, generated from the argument parser itself (so it never drifts from it)."""

from __future__ import annotations

import argparse

from kiwi_mcp.kernel.faces.cli.base import EXIT_OK, CliContext

__all__ = ["add_parsers", "script"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script for bash, zsh or fish: commands, subcommands"
        " and their options.",
        epilog="examples: kiwi completion bash >> ~/.bashrc | kiwi completion zsh >"
        " ~/.zfunc/_kiwi | kiwi completion fish > ~/.config/fish/completions/kiwi.fish",
    )
    p.add_argument("shell", choices=("bash", "zsh", "fish"))
    p.set_defaults(func=_completion)


def _tree(parser: argparse.ArgumentParser) -> dict[str, tuple[list[str], list[str]]]:
    """command path ('' for the top) → (its subcommands, its options)."""
    out: dict[str, tuple[list[str], list[str]]] = {}

    def walk(node: argparse.ArgumentParser, path: str) -> None:
        subs: list[str] = []
        options = [o for a in node._actions for o in a.option_strings if o.startswith("--")]
        for action in node._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    subs.append(name)
                    walk(child, f"{path} {name}".strip())
        out[path] = (subs, options)

    walk(parser, "")
    return out


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell``."""
    tree = _tree(parser)
    if shell == "fish":
        lines = ["complete -c kiwi -f"]
        for path, (subs, options) in tree.items():
            words = path.split()
            cond = (
                "__fish_use_subcommand"
                if not words
                else " && ".join(f"__fish_seen_subcommand_from {w}" for w in words)
            )
            for name in subs:
                lines.append(f"complete -c kiwi -n '{cond}' -a {name}")
            for option in options:
                lines.append(f"complete -c kiwi -n '{cond}' -l {option[2:]}")
        return "\n".join(lines) + "\n"
    cases = "\n".join(
        f'        "{path}") words="{" ".join(subs + options)}" ;;'
        for path, (subs, options) in tree.items()
    )
    body = f"""_kiwi_complete() {{
    local cur path="" word next
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        case "$word" in
            -*) ;;
            *) next="${{path:+$path }}$word"
               [ -n "$(_kiwi_words "$next")" ] && path="$next" ;;
        esac
    done
    COMPREPLY=($(compgen -W "$(_kiwi_words "$path")" -- "$cur"))
}}
_kiwi_words() {{
    local words=""
    case "$1" in
{cases}
    esac
    printf '%s' "$words"
}}
complete -F _kiwi_complete kiwi
"""
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body


def _completion(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.main import build_parser

    ctx.stdout.write(script(args.shell, build_parser()))
    return EXIT_OK
