"""`forecast-gru`: a GRU forecaster of a numeric series against the naive baseline (card only; torch-free)."""

from zoo.presets import Preset
from zoo.registry import ModelCard

CARD = ModelCard(
    name="forecast-gru",
    summary=("GRU forecaster of a numeric series (recurrent-dropout option) over a window of raw values with a "
             "dynamic time axis; reports the naive 'value in h steps = value now' baseline beside its own error."),
    task="time-series forecasting",
    kind="sequence",
    paper=("Cho, K. et al. (2014). Learning Phrase Representations using RNN Encoder-Decoder (GRU); Chollet, F. (2017). "
           "Deep Learning with Python, ch. 6.3 (temperature forecasting, the naive baseline); Merity, S. et al. (2018). "
           "Regularizing and Optimizing LSTM Language Models (DropConnect on recurrent weights)."),
    paper_url="https://arxiv.org/abs/1406.1078",
    config="zoo.models.forecast_gru.config:ForecastGRUConfig",
    impl="zoo.models.forecast_gru.model:ForecastGRU",
    default_data="synthetic-temperature",
    primary_metric="test/mae",
    parameters=3393,
    inputs="series: float32 (batch, time, 1), raw values oldest first (standardisation is inside the model)",
    pipeline_tag="time-series-forecasting",
    tags=("gru", "rnn", "forecasting", "time-series"),
    presets=(
        Preset("jena-chollet", "Chollet's Jena setup: 5 days of hourly temperatures, 24 hours ahead, 32-unit GRU.",
               {"data": "jena-climate", "lookback": 120, "horizon": 24, "hidden": 32}),
        Preset("recurrent-dropout", "Two GRU layers with dropout between them and on the recurrent weights.",
               {"layers": 2, "dropout": 0.2, "recurrent_dropout": 0.25}),
    ),
    tiny={"epochs": 1, "hidden": 8, "lookback": 24, "limit": 2000, "batch_size": 128, "checkpoint_every": 0},
)
