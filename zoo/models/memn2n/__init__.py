"""`memn2n`: End-To-End Memory Network on bAbI-style stories (card only; torch-free)."""

from zoo.presets import Preset
from zoo.registry import ModelCard

CARD = ModelCard(
    name="memn2n",
    summary=("End-To-End Memory Network: K attention hops over the sentences of a story answer a question "
             "(bAbI tasks 1-2 generated offline, or the real 20 tasks); vocabulary shipped as JSON."),
    task="question answering over a story",
    kind="sequence",
    paper=("Sukhbaatar, S., Szlam, A., Weston, J., Fergus, R. (2015). End-To-End Memory Networks. NIPS 2015; "
           "Weston, J. et al. (2015). Towards AI-Complete Question Answering: A Set of Prerequisite Toy Tasks (bAbI)."),
    paper_url="https://arxiv.org/abs/1503.08895",
    config="zoo.models.memn2n.config:MemN2NConfig",
    impl="zoo.models.memn2n.model:MemN2N",
    default_data="babi-generated",
    primary_metric="test/acc",
    parameters=5680,
    inputs=("story: int64 ids (batch, sentences, words), query: int64 ids (batch, words), both 0-padded; turn text "
            "into ids with the shipped tokenizer JSON (one row per sentence, oldest first)"),
    pipeline_tag="question-answering",
    tags=("memory-network", "memn2n", "babi", "question-answering", "attention"),
    presets=(
        Preset("task2", "Generated task 2 (two supporting facts).", {"task": 2}),
        Preset("layer-wise", "Layer-wise (RNN-like) weight tying: one A and C, u(k+1) = H u(k) + o(k).", {"tying": "layer-wise"}),
        Preset("bow", "Bag-of-words sentence embedding, no temporal encoding (the paper's weakest row).",
               {"encoding": "bow", "temporal": False, "linear_start": 0, "random_noise": 0.0}),
    ),
    tiny={"epochs": 2, "examples": 120, "dim": 8, "hops": 2, "memory_size": 12, "linear_start": 1, "batch_size": 32,
          "checkpoint_every": 0},
)
