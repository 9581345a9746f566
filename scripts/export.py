"""Export a trained architecture: `python scripts/export.py run=<run dir> [train=true] [out=<dir>]`.

Writes model.ts (TorchScript) and model.onnx (ONNX, with its opset, input shape and classes in
its metadata), each checked against PyTorch on a batch. See app/export.py for what run= may be.
"""

import sys

from app.cli import fail
from app.errors import USER_ERRORS, describe
from app.export import export_main, parse_args


def main(argv: list[str]) -> None:
    """Parse key=value arguments and export; bad input is one `error:` line and exit 2."""
    try:
        export_main(parse_args(argv))
    except USER_ERRORS as err:
        fail(describe(err))


if __name__ == "__main__":
    main(sys.argv[1:])
