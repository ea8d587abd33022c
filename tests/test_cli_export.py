"""`zoo export / convert / verify` through the CLI: a good export, and bad input that must end in one line
(ZooError), a non-zero exit and no file written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_one_line_error(code: int, err: str, expected: str, exit_code: int = 2) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == exit_code, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert expected in lines[0], err


@pytest.fixture(scope="module")
def exported(siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny siamese run with siamese.onnx (exported through the CLI) in it."""
    run = tmp_path_factory.mktemp("export-cli") / "run"
    shutil.copytree(siamese_run, run)
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(run)])
    assert exit_info.value.code == 0
    assert (run / "siamese.onnx").is_file() and (run / "siamese.onnx.parity.json").is_file()
    return run


def test_verify_an_export(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["verify", str(exported / "siamese.onnx")], capsys)
    assert code == 0 and "parity OK" in out and "max abs error" in out


def _corrupt(folder: Path, source: Path) -> Path:
    path = folder / "siamese.onnx"
    path.write_bytes(os.urandom(2048))
    return path


def _truncated(folder: Path, source: Path) -> Path:
    data = (source / "siamese.onnx").read_bytes()
    path = folder / "siamese.onnx"
    path.write_bytes(data[: len(data) // 2])
    return path


def _unsupported_op(folder: Path, source: Path) -> Path:
    """A valid, runnable zoo ONNX file whose output goes through Shrink, an op the Keras converter lacks."""
    from onnx import helper

    from exporters.onnx import load_onnx, write_onnx

    proto = load_onnx(source / "siamese.onnx")
    last = proto.graph.node[-1]
    last.output[0] = "same_before_shrink"
    proto.graph.node.append(helper.make_node("Shrink", ["same_before_shrink"], ["same"], lambd=0.0))
    return write_onnx(proto, folder / "siamese.onnx")


def _custom_layer_keras(folder: Path, source: Path) -> Path:
    """A .keras file whose model uses a custom (registered, here only) layer; zoo must refuse to load it."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    @keras.saving.register_keras_serializable(package="zoo_test")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = [keras.Input((1, 24, 24), name="left"), keras.Input((1, 24, 24), name="right")]
    merged = keras.layers.Add()([Doubler()(inputs[0]), inputs[1]])
    output = keras.layers.Dense(1, activation="sigmoid", name="same")(keras.layers.Flatten()(merged))
    path = folder / "custom.keras"
    keras.Model(inputs, output).save(path)
    shutil.copy(source / "config.json", folder / "config.json")  # the spec resolves; the layer must not
    keras.saving.get_custom_objects().clear()
    return path


CASES = {
    "missing-source": (lambda f, s: f / "nope", ["export", "{file}"], "does not exist"),
    "missing-file": (lambda f, s: f / "nope.onnx", ["verify", "{file}"], "does not exist"),
    "corrupt-onnx": (_corrupt, ["convert", "{file}", "--to", "keras"], "not a readable ONNX file"),
    "truncated-onnx": (_truncated, ["convert", "{file}", "--to", "pytorch"], "ONNX"),
    "unsupported-op": (_unsupported_op, ["convert", "{file}", "--to", "keras"], "'Shrink'"),
    "custom-keras-layer": (_custom_layer_keras, ["convert", "{file}", "--to", "onnx"], "custom layer"),
    "wrong-to-export": (lambda f, s: s, ["export", "{file}", "--to", "tflite", "--out", "{folder}"], "--to must be one of"),
    "wrong-to-convert": (lambda f, s: s / "siamese.onnx", ["convert", "{file}", "--to", "tflite", "--out", "{folder}"], "cannot convert"),
    "export-from-onnx": (lambda f, s: s / "siamese.onnx", ["export", "{file}", "--out", "{folder}"], "zoo convert"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_writes_nothing(case: str, exported: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    make, argv, expected = CASES[case]
    folder = tmp_path / "work"
    folder.mkdir()
    file = make(folder, exported)
    before_folder, before_run = snapshot(folder), snapshot(exported)
    code, _, err = run_cli([a.format(file=file, folder=folder) for a in argv], capsys)
    assert_one_line_error(code, err, expected)
    assert snapshot(folder) == before_folder and snapshot(exported) == before_run


def test_parity_failure_exits_3_and_writes_nothing(exported: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # A drop of at most -1 (the int8 model would have to be 100 points *better*) cannot be met.
    code, _, err = run_cli(["export", str(exported), "--quantize", "dynamic", "--metric-tolerance", "-1",
                            "--out", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "not within tolerance", exit_code=3)
    assert list(tmp_path.iterdir()) == []
