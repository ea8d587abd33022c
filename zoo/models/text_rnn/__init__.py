"""`text-rnn`: an embedding + LSTM/GRU text classifier (card only; torch-free)."""

from zoo.presets import Preset
from zoo.registry import ModelCard

CARD = ModelCard(
    name="text-rnn",
    summary=("Embedding + LSTM or GRU text classifier (stacked, bidirectional options) over right-padded int64 "
             "token ids; padding-invariant, vocabulary shipped as JSON in the artifact and the ONNX metadata."),
    task="text classification",
    kind="sequence",
    paper=("Hochreiter, S., Schmidhuber, J. (1997). Long Short-Term Memory. Neural Computation 9(8); Cho, K. et al. "
           "(2014). Learning Phrase Representations using RNN Encoder-Decoder (GRU); Chollet, F. (2017). Deep Learning "
           "with Python, ch. 6 (IMDB with LSTM)."),
    paper_url="https://www.bioinf.jku.at/publications/older/2604.pdf",
    config="zoo.models.text_rnn.config:TextRNNConfig",
    impl="zoo.models.text_rnn.model:TextRNN",
    default_data="synthetic-reviews",
    primary_metric="test/acc",
    parameters=28290,
    inputs="tokens: int64 ids (batch, time), right-padded with 0; turn text into ids with the shipped tokenizer JSON",
    pipeline_tag="text-classification",
    tags=("lstm", "gru", "rnn", "text-classification", "sentiment"),
    presets=(
        Preset("bilstm-2", "Two stacked bidirectional LSTM layers.", {"cell": "lstm", "layers": 2, "bidirectional": True}),
        Preset("gru", "One GRU layer.", {"cell": "gru"}),
        Preset("imdb-chollet", "Chollet's IMDB LSTM: 10 000 words, 32-unit embedding and LSTM, first 200 words.",
               {"data": "imdb", "vocab_size": 10000, "embed_dim": 32, "hidden": 32, "max_len": 200}),
    ),
    tiny={"epochs": 1, "batch_size": 64, "embed_dim": 8, "hidden": 8, "max_len": 24, "limit": 600, "checkpoint_every": 0},
)
