"""Release pretrained presets: train each model's recipe, export every format (ONNX, Keras, ONNX fp16/int8
under onnx/), push to OWNER on a Hub endpoint and record revision + sha256 + metrics in the presets file.

    python benchmarks/release.py --owner zoo-models                       # every model, default config, huggingface.co
    python benchmarks/release.py --owner me --models siamese --recipe tiny --endpoint http://127.0.0.1:PORT \\
        --presets-file /tmp/presets.json                                  # a smoke release (what tests/test_release.py runs)

Needs a write token (HF_TOKEN or `hf auth login`). Afterwards `zoo demo siamese --pretrained` serves the pushed ONNX file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owner", required=True, help="Hub user or organisation to push to (repos OWNER/MODEL[-RECIPE]).")
    parser.add_argument("--models", default="", help="Comma-separated model names (default: every model).")
    parser.add_argument("--recipe", default="default", help="default, tiny (the card's tiny config) or a card preset name.")
    parser.add_argument("--endpoint", default=None, help="Hub endpoint (default: $HF_ENDPOINT or huggingface.co).")
    parser.add_argument("--presets-file", type=Path, default=None, help="Presets file to update (default: $ZOO_PRESETS or zoo/presets.json).")
    parser.add_argument("--runs", type=Path, default=Path("runs/release"), help="Folder for the release's training runs.")
    parser.add_argument("--formats", default="onnx,keras,fp16,int8", help="Formats pushed beside the weights.")
    parser.add_argument("--run", type=Path, default=None, help="Publish this finished run (one model) instead of training it.")
    parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
    args = parser.parse_args(argv)
    if args.endpoint:
        os.environ["HF_ENDPOINT"] = args.endpoint  # before huggingface_hub reads its constants
    from zoo.errors import ZooError
    from zoo.release import release

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.run is not None and len(models) != 1:
        print("error: --run publishes one run; name its model with --models MODEL.", file=sys.stderr)
        return 2
    try:
        presets = release(models, args.owner, recipe=args.recipe, runs_dir=args.runs, presets_path=args.presets_file, run=args.run,
                          formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()), progress=not args.no_progress)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for preset in presets:
        print(f"{preset.weights}  sha256={preset.sha256}  {preset.metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
