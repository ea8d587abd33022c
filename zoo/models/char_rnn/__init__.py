"""`char-rnn`: a character-level LSTM language model with temperature sampling (card only; torch-free)."""

from zoo.presets import Preset
from zoo.registry import ModelCard

CARD = ModelCard(
    name="char-rnn",
    summary=("Character-level LSTM language model (Karpathy's char-rnn, Chollet ch. 8): the exported graph is one "
             "step (ids + LSTM states in, next-character logits + states out); sampling at a softmax temperature "
             "runs outside it (`zoo generate`, the demo on onnxruntime)."),
    task="text generation",
    kind="sequence",
    paper=("Karpathy, A. (2015). The Unreasonable Effectiveness of Recurrent Neural Networks (char-rnn); Graves, A. (2013). "
           "Generating Sequences With Recurrent Neural Networks; Chollet, F. (2017). Deep Learning with Python, ch. 8.1 "
           "(character-level LSTM text generation, softmax temperature)."),
    paper_url="https://karpathy.github.io/2015/05/21/rnn-effectiveness/",
    config="zoo.models.char_rnn.config:CharRNNConfig",
    impl="zoo.models.char_rnn.model:CharRNN",
    default_data="shakespeare",
    primary_metric="test/perplexity",
    parameters=93087,
    inputs="ids: int64 (batch, time) character ids (tokenizer JSON) + LSTM states h, c: (batch, layers, hidden), zeros to start",
    pipeline_tag="text-generation",
    tags=("lstm", "rnn", "char-rnn", "language-model", "text-generation"),
    presets=(
        Preset("karpathy-2x512", "Karpathy's char-rnn default: two 512-unit LSTM layers, dropout 0.5 (slow on CPU).",
               {"hidden": 512, "layers": 2, "dropout": 0.5, "epochs": 10}),
        Preset("chollet", "Chollet's ch. 8 model: one 128-unit LSTM over 60-character windows.", {"hidden": 128, "seq_len": 60}),
    ),
    tiny={"epochs": 1, "hidden": 8, "embed_dim": 4, "seq_len": 16, "limit": 6000, "batch_size": 32, "checkpoint_every": 0},
)
