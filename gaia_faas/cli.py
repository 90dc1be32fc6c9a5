"""The `gaia` command: one entry point, one module per subcommand.

Each subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported
only when their subcommand runs, so `gaia classify` never pays for aiohttp, Redis or torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "classify": ("gaia_faas.classifier.cli", "classify a handler folder or file as cpu/cpu_preferred/gpu_preferred/gpu"),
    "stack": ("gaia_faas.stack", "expand gaia-python functions of a stack.yml into their CPU/GPU variants"),
    "gateway": ("gaia_faas.gateway_plugin.cli", "run the gateway plugin (reverse proxy, recorder, controller)"),
    "status": ("gaia_faas.gateway_plugin.status", "show routes, recent stats and decisions of a running gateway plugin"),
    "replay": ("gaia_faas.gateway_plugin.replay", "replay latency traces against the routing policies in virtual time"),
    "local-run": ("gaia_faas.local_run", "run functions, Redis and the gateway plugin on this machine"),
    "demo": ("gaia_faas.demo", "run the reference functions locally and drive the research workloads"),
}


def _usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["usage: gaia COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run `gaia COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from gaia_faas import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"gaia: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"gaia {name}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
