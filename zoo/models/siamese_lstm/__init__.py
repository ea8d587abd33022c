"""`siamese-lstm`: one LSTM shared by two sentences -- "do these texts say the same thing?" (card only; torch-free)."""

from zoo.presets import Preset
from zoo.registry import ModelCard

CARD = ModelCard(
    name="siamese-lstm",
    summary=("One embedding + LSTM instance shared by two sentence inputs (left, right: right-padded int64 ids); the two "
             "sentence vectors meet as [|a-b|, a*b] (or concatenated, or by cosine) and a sigmoid says 'same meaning'."),
    task="text-pair classification (paraphrase detection)",
    kind="sequence",
    paper=("Chollet, F. (2017). Deep Learning with Python, ch. 7.1 (functional API: a shared LSTM for two sentences); "
           "Mueller, J., Thyagarajan, A. (2016). Siamese Recurrent Architectures for Learning Sentence Similarity. AAAI."),
    paper_url="https://ojs.aaai.org/index.php/AAAI/article/view/10350",
    config="zoo.models.siamese_lstm.config:SiameseLSTMConfig",
    impl="zoo.models.siamese_lstm.model:SiameseLSTM",
    default_data="synthetic-paraphrases",
    primary_metric="test/acc",
    parameters=35169,
    inputs=("left, right: int64 ids (batch, left_time) and (batch, right_time), right-padded with 0; turn text into ids "
            "with the shipped tokenizer JSON"),
    pipeline_tag="sentence-similarity",
    tags=("lstm", "siamese", "paraphrase", "sentence-similarity", "text-pair"),
    presets=(
        Preset("bilstm", "The shared encoder reads each sentence in both directions.", {"bidirectional": True}),
        Preset("chollet-concat", "Chollet's example: the two LSTM outputs concatenated, then a dense sigmoid.", {"merge": "concat"}),
        Preset("cosine", "Cosine similarity of the two sentence vectors (no MLP).", {"merge": "cosine"}),
    ),
    tiny={"epochs": 1, "batch_size": 64, "embed_dim": 8, "hidden": 8, "head_hidden": 8, "max_len": 16, "limit": 400,
          "checkpoint_every": 0},
)
