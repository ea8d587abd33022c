"""`zoo generate SOURCE --prime ... --length N --temperature T --seed S`: text from a character language model
(`char-rnn`) on its PyTorch weights, its ONNX file (onnxruntime) or its Keras file.

Imported by cli.py at start-up: typer and the standard library only here."""

from __future__ import annotations

from typing import Any

import typer

SOURCE_HELP = "Run directory, model.safetensors, FILE.onnx, FILE.keras or hf://OWNER/NAME[@REV] of a char-rnn model"


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)


def sampler_for(source: str) -> Any:
    """A :class:`demos.text_generator.CharSampler` over ``source`` on its own runtime."""
    from demos.text_generator import CharSampler
    from exporters.sources import resolve_source
    from zoo.errors import ZooError

    resolved = resolve_source(source)
    spec = resolved.spec
    chars = getattr(spec.config, "chars", None)
    names = [t.name for t in spec.inputs()]
    if not chars or names != ["ids", "h", "c"]:
        raise ZooError(f"{source} holds a {spec.name} model; `zoo generate` needs a character language model (char-rnn), "
                       "train one with `zoo train char-rnn`.")
    return CharSampler(list(chars), spec.config.layers, spec.config.hidden, resolved.predictor())


def generate(source: str, prime: str, length: int = 200, temperature: float = 0.5, seed: int = 0) -> str:
    """``length`` characters continuing ``prime`` (bad prime, length or temperature: ZooError)."""
    from demos.text_generator import GenerationError
    from zoo.errors import ZooError

    sampler = sampler_for(source)
    try:
        return sampler.generate(prime, length, temperature, seed)
    except GenerationError as exc:
        raise ZooError(str(exc)) from None


def generate_command(
    source: str = typer.Argument(..., help=SOURCE_HELP),
    prime: str = typer.Option(..., "--prime", help="Text to start from (its characters must be in the model's vocabulary)."),
    length: int = typer.Option(200, "--length", help="Characters to generate after the prime."),
    temperature: float = typer.Option(0.5, "--temperature", help="Softmax temperature: 0 = argmax, <1 safer, 1 = the model's distribution, >1 wilder."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler (same seed, same text on every runtime)."),
) -> None:
    """Continue a text with a character language model, sampling each character at a softmax temperature.

    The exported graph is one step (ids + LSTM states -> logits + states); this loop feeds it, so the ONNX
    file on onnxruntime and the PyTorch weights give the same text for the same seed."""
    text = prime.replace("\\n", "\n")  # a typed \n is a new line (speaker names end lines in the corpus)
    typer.echo(text + generate(source, text, length, temperature, seed))
