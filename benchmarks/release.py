"""Release pretrained presets: the same as `zoo release` (see `zoo release --help`), kept as a script.

    python benchmarks/release.py --owner zoo-models                       # every model, default config, huggingface.co
    python benchmarks/release.py --owner me --models siamese --recipe tiny --endpoint http://127.0.0.1:PORT \\
        --presets-file /tmp/presets.json                                  # a smoke release

Needs a write token (HF_TOKEN or `hf auth login`). Afterwards `zoo demo siamese --pretrained` serves the pushed ONNX file.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    from cli import main as zoo

    try:
        zoo(["release", *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as done:
        return int(done.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
