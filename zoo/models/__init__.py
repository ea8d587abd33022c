"""Built-in zoo models: name -> package. Each package's ``__init__`` defines a torch-free ``CARD``;
its implementation module registers the ``ZooModel`` with ``@register``.

Third-party packages add models through the ``zoo.models`` entry-point group (value: the package
that defines ``CARD``).
"""

BUILTIN: dict[str, str] = {
    "siamese": "zoo.models.siamese",
    "nlnl": "zoo.models.nlnl",
    "deepinsight": "zoo.models.deepinsight",
    "transfer": "zoo.models.transfer",
    "mlp-heads": "zoo.models.mlp_heads",
    "rotnet": "zoo.models.rotnet",
    "noise-level": "zoo.models.noise_level",
    "capsnet": "zoo.models.capsnet",
    "context": "zoo.models.context",
    "vae": "zoo.models.vae",
    "dcgan": "zoo.models.dcgan",
    "style-transfer": "zoo.models.style_transfer",
    "text-rnn": "zoo.models.text_rnn",
    "forecast-gru": "zoo.models.forecast_gru",
    "siamese-lstm": "zoo.models.siamese_lstm",
    "char-rnn": "zoo.models.char_rnn",
    "memn2n": "zoo.models.memn2n",
}
