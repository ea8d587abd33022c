"""`zoo export RUN --to triton OUT/`: a Triton model repository whose config.pbtxt parses with Triton's own
protobuf schema (tritonclient's generated model_config_pb2) and names the ONNX inputs/outputs exactly."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli import main


def triton_schema() -> Any:
    """tritonclient's generated model_config_pb2, loaded from its file (tritonclient.grpc's __init__ needs grpc extras)."""
    spec = importlib.util.find_spec("tritonclient")
    assert spec is not None and spec.submodule_search_locations, "tritonclient is missing: pip install -e '.[dev]'"
    path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def parse_config(path: Path) -> Any:
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(encoding="utf-8"), triton_schema().ModelConfig())


def export_triton(source: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(source), "--to", "triton", str(out), *extra])
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_siamese_repository_matches_the_onnx_graph(siamese_run: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import onnxruntime as ort

    code, out, err = export_triton(siamese_run, tmp_path / "models", capsys, "--instances", "2", "--max-batch-size", "16")
    assert code == 0, err
    model_dir = tmp_path / "models" / "siamese"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["siamese"]  # no temp folder left
    onnx_file = model_dir / "1" / "model.onnx"
    config = parse_config(model_dir / "config.pbtxt")
    assert config.name == "siamese" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 16
    assert config.HasField("dynamic_batching")
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, triton_schema().ModelInstanceGroup.KIND_AUTO)]
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    for declared, actual in ((config.input, session.get_inputs()), (config.output, session.get_outputs())):
        assert [t.name for t in declared] == [t.name for t in actual]
        for t, a in zip(declared, actual):
            assert list(t.dims) == [d if isinstance(d, int) else -1 for d in a.shape[1:]], (t, a.shape)
            assert triton_schema().DataType.Name(t.data_type) == "TYPE_FP32" and a.type == "tensor(float)"
    feeds = {i.name: np.zeros([1, *(d if isinstance(d, int) else 1 for d in i.shape[1:])], np.float32)
             for i in session.get_inputs()}
    assert all(np.isfinite(o).all() for o in session.run(None, feeds))
    assert not (model_dir / "labels.txt").exists()  # siamese has no class labels
    assert "wrote Triton model repository" in out and "tritonserver" in out


def test_classifier_gets_a_labels_file(tiny_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zoo import artifacts

    run = tiny_run("deepinsight")
    code, _, err = export_triton(run, tmp_path / "models", capsys)
    assert code == 0, err
    labels = artifacts.load(run).spec.labels()
    model_dir = tmp_path / "models" / "deepinsight"
    assert (model_dir / "labels.txt").read_text(encoding="utf-8").splitlines() == labels
    config = parse_config(model_dir / "config.pbtxt")
    assert [o.label_filename for o in config.output if o.label_filename] == ["labels.txt"]


def test_existing_model_folder_is_refused_and_kept(siamese_run: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "models" / "siamese").mkdir(parents=True)
    (tmp_path / "models" / "siamese" / "keep.txt").write_text("mine")
    code, _, err = export_triton(siamese_run, tmp_path / "models", capsys)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and "already exists" in lines[0], err
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["siamese"]
    assert [p.name for p in (tmp_path / "models" / "siamese").iterdir()] == ["keep.txt"]


def test_bad_instance_kind_is_one_line_error(siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = export_triton(siamese_run, tmp_path / "models", capsys, "--instance-kind", "GPU")
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and "KIND_AUTO, KIND_CPU, KIND_GPU" in lines[0], err
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []
