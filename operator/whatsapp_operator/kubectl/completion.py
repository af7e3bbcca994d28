"""Shell completion: bash and zsh scripts that ask `kubectl-whatsapp __complete` for words.

The candidates come from the plugin's own argument parser (so subcommands and flags never
drift from the scripts) and, for names, from the cluster at completion time with the
kubeconfig, context and namespace typed on the line. `__complete` answers as cobra does
(one candidate a line, then `:4`), which is also what kubectl expects from a
`kubectl_complete-whatsapp` executable for `kubectl whatsapp <TAB>`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from whatsapp_operator.kubectl.resources import INSTANCE, KINDS, Kind, parse_target
from whatsapp_operator.kubectl.view import PluginError

SHELLS = ("bash", "zsh")
COMPLETE = "__complete"
# cobra's ShellCompDirectiveNoFileComp: the shell offers no file names instead.
NO_FILE_COMPLETION = 4

# names(kind, options): the names of `kind` (None: namespaces) with the cluster options
# typed so far ({"kubeconfig": ..., "context": ..., "namespace": ...}); [] when unreadable.
Names = Callable[[Kind | None, dict[str, str]], list[str]]

BASH = """# bash completion for kubectl-whatsapp: source <(kubectl-whatsapp completion bash)
_kubectl_whatsapp() {
    local line
    local -a found=()
    COMPREPLY=()
    while IFS= read -r line; do
        case "$line" in
            :*) ;;
            "") ;;
            *) found+=("$line") ;;
        esac
    done < <(kubectl-whatsapp __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    COMPREPLY=("${found[@]}")
    # A kind prefix (partner/) is half a word: no space after it.
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
complete -F _kubectl_whatsapp kubectl-whatsapp
"""

ZSH = """#compdef kubectl-whatsapp
# zsh completion for kubectl-whatsapp: source <(kubectl-whatsapp completion zsh) after compinit
_kubectl_whatsapp() {
    local line
    local -a whole half
    for line in "${(@f)$(kubectl-whatsapp __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
        case "$line" in
            :*|'') ;;
            */) half+=("$line") ;;
            *) whole+=("$line") ;;
        esac
    done
    (( ${#whole} )) && compadd -Q -a whole
    (( ${#half} )) && compadd -Q -S '' -a half
    return 0
}
compdef _kubectl_whatsapp kubectl-whatsapp
"""


def script(shell: str) -> str:
    """The completion script for `shell` (bash or zsh)."""
    return BASH if shell == "bash" else ZSH


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {name: action for action in parser._actions for name in action.option_strings}


def _starting(current: str, words: Sequence[str]) -> list[str]:
    return [w for w in words if w.startswith(current)]


def complete(parser: argparse.ArgumentParser, words: Sequence[str], names: Names) -> list[str]:
    """The candidates for the last of `words` (the arguments after the program's name, the
    last one being typed, possibly empty)."""
    current = words[-1] if words else ""
    commands = _subcommands(parser)
    options = _options(parser)
    typed: dict[str, str] = {}
    command: str | None = None
    positionals: list[str] = []
    pending: argparse.Action | None = None
    for word in words[:-1]:
        if pending is not None:
            typed[pending.dest] = word
            pending = None
        elif word.startswith("-") and word != "-":
            flag, equals, value = word.partition("=")
            action = options.get(flag)
            if action is not None and equals:
                typed[action.dest] = value
            elif action is not None and action.nargs != 0:
                pending = action
        elif command is None and word in commands:
            command = word
            options = {**options, **_options(commands[word])}
        else:
            positionals.append(word)

    if pending is not None:
        if pending.choices:
            return _starting(current, [str(c) for c in pending.choices])
        if pending.dest == "namespace":
            return _starting(current, names(None, typed))
        return []
    if current.startswith("-"):
        return _starting(current, sorted(options))
    if command is None:
        return _starting(current, [c for c in commands if not c.startswith("_")])
    wanted = [a for a in commands[command]._actions if not a.option_strings]
    if len(positionals) >= len(wanted):
        return []
    action = wanted[len(positionals)]
    if action.choices:
        return _starting(current, [str(c) for c in action.choices])
    if action.dest != "name":
        return []
    if command == "status" and "/" in current:
        prefix = current.split("/", 1)[0]
        try:
            kind, _ = parse_target(f"{prefix}/x")
        except PluginError:
            return []
        return _starting(current, [f"{prefix}/{n}" for n in names(kind, typed)])
    found = names(INSTANCE, typed)
    if command == "status":
        found += [f"{k.aliases[0]}/" for k in KINDS if k is not INSTANCE]
    return _starting(current, found)
