"""Built-in zoo models: name -> module. Each module registers its ``ZooModel`` with ``@register``.

Third-party packages add models through the ``zoo.models`` entry-point group instead.
"""

BUILTIN: dict[str, str] = {
    "siamese": "zoo.models.siamese",
    "nlnl": "zoo.models.nlnl",
    "deepinsight": "zoo.models.deepinsight",
}
