"""torch.hub entry points: ``torch.hub.load("OWNER/zoo", "siamese", source="github", pretrained=False, **config)``."""

dependencies = ["torch", "safetensors", "pydantic", "numpy"]


def _entry(name: str):
    def entry(pretrained: bool | str = False, **config):
        from zoo import create_model

        return create_model(name, pretrained=pretrained, **config)

    entry.__name__ = name
    entry.__doc__ = f"The zoo '{name}' network (pretrained=True: published weights, sha256-verified)."
    return entry


siamese = _entry("siamese")
nlnl = _entry("nlnl")
deepinsight = _entry("deepinsight")
