"""Builder for ``DemoHook.kind == "text-generator"``: a prime text, a temperature and a length in, generated text out.

The model's exported graph is one step of a recurrent language model: ``ids`` (batch, time) int64 plus the
recurrent states (batch, layers, hidden) in, next-character ``logits`` (batch, time, vocab) plus the new
states out. The sampling loop lives here, in numpy, so it runs the same on onnxruntime (demos, Spaces) and on
PyTorch (`zoo generate` hands :class:`CharSampler` a torch ``Predict``). The character vocabulary comes from
the tokenizer JSON in the model's document (``{"type": "chars", "chars": [...]}``).

Temperature as in Chollet (Deep Learning with Python, 8.1): the distribution is reweighted to
``p_i ** (1 / T)`` renormalised, i.e. ``softmax(logits / T)``; T -> 0 approaches the argmax (T = 0 is the
argmax itself), T = 1 samples the model's own distribution, T > 1 flattens it.

Torch-free and zoo-free (copied into generated Spaces); gradio is imported only by :func:`build`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from demos.inputs import InputError

HOOK_EXAMPLES = "primes"  # DemoHook.examples of this kind: prime strings
ENDPOINTS = ["generate"]
MAX_PRIME_CHARS = 2000
MAX_LENGTH = 2000
MAX_TEMPERATURE = 5.0

Predict = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


class GenerationError(InputError):
    """Bad generation input (the demo shows it as one line; `zoo generate` makes it a ZooError)."""


def reweight(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``softmax(logits / temperature)`` in float64 (Chollet's reweighting of the model's
    distribution); temperature 0 puts all mass on the argmax."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature == 0:
        p = np.zeros_like(z)
        p[int(np.argmax(z))] = 1.0
        return p
    z = z / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def draw(p: np.ndarray, rng: np.random.Generator) -> int:
    """One index from probabilities ``p`` by inverse CDF with a single uniform draw: runtimes whose
    probabilities differ by float rounding draw the same index unless the uniform falls in that sliver."""
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(p) - 1))


class CharSampler:
    """Generates text from a one-step character model given as a ``Predict`` (named numpy inputs -> outputs)."""

    def __init__(self, chars: list[str], layers: int, hidden: int, predict: Predict,
                 names: tuple[str, str, str] = ("ids", "h", "c")) -> None:
        if not chars:
            raise GenerationError("the model's document has no character vocabulary ('tokenizer' of type 'chars'); re-export it with `zoo export`.")
        self.chars, self.layers, self.hidden, self.predict = list(chars), int(layers), int(hidden), predict
        self.index = {ch: i for i, ch in enumerate(self.chars)}
        self.names = names

    @classmethod
    def from_document(cls, document: dict[str, Any], predict: Predict) -> CharSampler:
        tokenizer = document.get("tokenizer") or {}
        if tokenizer.get("type") != "chars":
            raise GenerationError("the model's document has no character vocabulary ('tokenizer' of type 'chars'); re-export it with `zoo export`.")
        cfg = document.get("config", {})
        return cls(list(tokenizer["chars"]), int(cfg["layers"]), int(cfg["hidden"]), predict,
                   tuple(t["name"] for t in document["inputs"]))  # type: ignore[arg-type]

    def encode(self, prime: Any) -> np.ndarray:
        text = "" if prime is None else str(prime).replace("\r\n", "\n")
        if not text:
            raise GenerationError("the prime text is empty; type a few characters to start from, e.g. 'ROMEO:'.")
        if len(text) > MAX_PRIME_CHARS:
            raise GenerationError(f"the prime text has {len(text):,} characters; the limit is {MAX_PRIME_CHARS:,}, shorten it.")
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
            raise GenerationError(f"the prime text holds {len(unknown)} character(s) the model never saw ({shown}); "
                                  f"use only characters of its {len(self.chars)}-character vocabulary.")
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def check(self, length: Any, temperature: Any) -> tuple[int, float]:
        try:
            n, t = int(length), float(temperature)
        except (TypeError, ValueError):
            raise GenerationError(f"length {length!r} / temperature {temperature!r} are not numbers; give e.g. 200 and 0.5.") from None
        if not 1 <= n <= MAX_LENGTH or n != float(length):
            raise GenerationError(f"length {length} is not a whole number from 1 to {MAX_LENGTH}; pick one in that range.")
        if not 0 <= t <= MAX_TEMPERATURE or t != t:
            raise GenerationError(f"temperature {temperature} is outside 0 to {MAX_TEMPERATURE}; 0.2-0.5 is safe, 1 is the model's own distribution.")
        return n, t

    def step(self, ids: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits, h, c = self.predict({self.names[0]: ids[None, :], self.names[1]: h, self.names[2]: c})[:3]
        return np.asarray(logits)[0, -1], np.asarray(h, dtype=np.float32), np.asarray(c, dtype=np.float32)

    def generate(self, prime: Any, length: Any = 200, temperature: Any = 0.5, seed: Any = 0) -> str:
        """``length`` characters after ``prime`` (not included): the prime is read in one call, then one
        character per call, each drawn from the reweighted distribution with ``np.random.default_rng(seed)``."""
        ids = self.encode(prime)
        n, t = self.check(length, temperature)
        rng = np.random.default_rng(int(seed or 0))
        zeros = np.zeros((1, self.layers, self.hidden), dtype=np.float32)
        logits, h, c = self.step(ids, zeros, zeros)
        out: list[int] = []
        for i in range(n):
            out.append(draw(reweight(logits, t), rng))
            if i + 1 < n:
                logits, h, c = self.step(np.array(out[-1:], dtype=np.int64), h, c)
        return "".join(self.chars[i] for i in out)


def build(model: Any) -> None:
    """UI for ``model``; endpoint ``/<name>_generate`` (prime, length, temperature, seed) -> generated text."""
    import gradio as gr

    from demos.ui import header, user_errors

    sampler = CharSampler.from_document(model.document, model.predict)

    def generate(prime: Any, length: Any, temperature: Any, seed: Any) -> str:
        return str(prime) + sampler.generate(prime, length, temperature, seed)

    primes = [str(p) for p in model.examples.get("primes", [])]
    header(model.title, model.hook.get("description", ""),
           f"model <code>{model.name}</code> on {model.backend}; {len(sampler.chars)}-character vocabulary, "
           f"{sampler.layers} x {sampler.hidden} LSTM; sampling runs in numpy around the one-step graph.")
    box = gr.Textbox(value=primes[0] if primes else "", lines=2, label="prime text", elem_id=f"{model.name}-prime")
    with gr.Row():
        length = gr.Slider(1, MAX_LENGTH, value=300, step=1, label="characters to generate", elem_id=f"{model.name}-length")
        temperature = gr.Slider(0, 2, value=0.5, step=0.05, label="temperature (0 = argmax, 1 = the model's distribution)",
                                elem_id=f"{model.name}-temperature")
        seed = gr.Number(value=0, precision=0, label="seed", elem_id=f"{model.name}-seed")
    button = gr.Button("Generate", variant="primary", elem_id=f"{model.name}-generate")
    result = gr.Textbox(lines=12, label="prime + generated text", elem_id=f"{model.name}-result")
    button.click(user_errors(generate), [box, length, temperature, seed], result, api_name=f"{model.name}_generate")
    if len(primes) > 1:
        gr.Examples([[p] for p in primes], [box], label="Example primes from the held-out text")
