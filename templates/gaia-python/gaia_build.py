"""Build step of a gaia-python image: classify the handler folder and store the result for index.py.

The Dockerfile runs it; gaia_faas.runtime_process.assemble_build_context runs the same script locally.
"""

import argparse
import json
import sys

from gaia_classifier import classify_path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gaia_build.py", description=__doc__)
    parser.add_argument("handler_dir")
    parser.add_argument("output", help="where to write the classification JSON")
    parser.add_argument("--variant", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--declared-mode", default="", help="the author's com.gaia.mode (wins over the classifier)")
    args = parser.parse_args(argv)
    try:
        # The Dockerfile installs function/requirements.txt first, so imports the classifier's tables do not
        # know resolve to their installed distributions (and what those depend on) in this interpreter.
        result = classify_path(args.handler_dir, declared_mode=args.declared_mode or None, installed=True)
    except (ValueError, OSError) as exc:
        print(f"gaia build: cannot classify {args.handler_dir}: {exc}", file=sys.stderr)
        return 2
    with open(args.output, "w", encoding="utf-8") as file:
        json.dump(result.to_dict(), file, indent=2)
    print(f"gaia build: {args.handler_dir} is {result.mode}: {result.rationale}")
    if args.variant == "gpu" and result.mode == "cpu":
        print(
            f"WARNING: building the GPU image of a function classified 'cpu' ({result.rationale}); "
            "it will hold a GPU it does not use",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
