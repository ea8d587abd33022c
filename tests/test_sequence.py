"""Sequence models (text-rnn, forecast-gru) beyond the registry-wide contract: padding invariance in PyTorch
and onnxruntime, the tokenizer JSON (round trip, ONNX metadata, the zoo-free demo tokenizer), a user's CSV
through the CLI, the IMDB and Jena downloaders on local archives, the demos' refusals of bad input while
they keep answering, int64 inputs in the demo runtime and the generated Space, and the second-export
regression of torch's recurrent export."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data.text import UNK_ID, Vocabulary, generate_reviews, load_imdb, load_text
from zoo.errors import ZooError

TEXTS = ["The plot was not good, but the acting was superb !", "a never-seen zyzzyva word", "bad"]


@pytest.mark.parametrize("cell,layers,bidirectional", [("lstm", 2, True), ("gru", 1, True), ("lstm", 1, False), ("gru", 2, False)])
def test_appending_padding_never_changes_a_prediction(cell: str, layers: int, bidirectional: bool) -> None:
    from zoo.tasks.sequence import TextRNNNet

    torch.manual_seed(0)
    net = TextRNNNet(40, 6, 5, layers, cell, bidirectional, 0.0, 3).eval()
    lengths = [1, 4, 9, 12]
    ids = torch.zeros(len(lengths), 12, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(2, 40, (n,))
    with torch.no_grad():
        base = net(ids)
        padded = net(torch.cat([ids, torch.zeros(len(lengths), 30, dtype=torch.long)], dim=1))
        alone = torch.cat([net(ids[i:i + 1, :n]) for i, n in enumerate(lengths)])  # each row at its own length
    torch.testing.assert_close(padded, base, rtol=0, atol=1e-6)
    torch.testing.assert_close(alone, base, rtol=0, atol=1e-6)
    if bidirectional:  # the backward direction reads the row from its last real token: order matters
        reversed_rows = ids.clone()
        reversed_rows[2, :9] = ids[2, :9].flip(0)
        with torch.no_grad():
            assert not torch.allclose(net(reversed_rows)[2], base[2])


def test_vocabulary_json_round_trip_and_the_demo_tokenizer_agree() -> None:
    from demos.text import Tokenizer

    texts, _ = generate_reviews(200)
    vocab = Vocabulary.build(texts, max_size=50, max_len=16)
    doc = json.loads(json.dumps(vocab.to_dict()))
    back = Vocabulary.from_dict(doc)
    assert back.words == vocab.words and back.max_len == 16 and doc["pad_id"] == 0 and doc["unk_id"] == UNK_ID
    assert len(vocab.words) == 50 and vocab.words[:2] == ["<pad>", "<unk>"]
    expected = vocab.encode_batch(TEXTS)
    np.testing.assert_array_equal(back.encode_batch(TEXTS), expected)
    assert UNK_ID in expected[1]  # unknown words map to <unk>, not dropped
    np.testing.assert_array_equal(Tokenizer(doc).batch(TEXTS), expected)  # no zoo code needed to feed the model
    with pytest.raises(ZooError, match="must start with"):
        Vocabulary(["a", "b"], 4)


def write_reviews_csv(path: Path, n: int = 160) -> Path:
    texts, labels = generate_reviews(n, seed=7)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review", "verdict"])
        for i, (t, y) in enumerate(zip(texts, labels)):
            writer.writerow([i, t, "good" if y else "bad"])
    return path


def test_a_users_csv_trains_through_the_cli_and_bad_columns_are_one_line(tmp_path: Path, capsys) -> None:
    from cli import main

    data = write_reviews_csv(tmp_path / "reviews.csv")
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as ok:
        main(["train", "text-rnn", "--data", str(data), "--text-column", "review", "--target", "verdict", "--epochs", "1",
              "--embed-dim", "4", "--hidden", "4", "--max-len", "16", "--run-dir", str(run), "--no-progress",
              "--checkpoint-every", "0"])
    assert ok.value.code == 0
    doc = json.loads((run / "config.json").read_text())
    assert doc["labels"] == ["bad", "good"] and doc["config"]["data"] == "csv"
    assert doc["tokenizer"]["vocab"] == doc["config"]["vocab"] and doc["tokenizer"]["max_len"] == 16
    assert json.loads((run / "tokenizer.json").read_text()) == doc["tokenizer"]
    assert json.loads((run / "metrics.json").read_text())["metrics"]["test/rows"] == 32
    capsys.readouterr()
    for argv, phrase in ((["--text-column", "text", "--target", "verdict"], "column 'text' (--text-column) is not in"),
                         (["--text-column", "review", "--target", "label"], "column 'label' (--target) is not in"),
                         (["--text-column", "review"], "needs --target naming its column")):
        with pytest.raises(SystemExit) as bad:
            main(["train", "text-rnn", "--data", str(data), *argv, "--run-dir", str(tmp_path / "bad"), "--no-progress"])
        err = capsys.readouterr().err
        assert bad.value.code == 2 and phrase in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "bad" / "model.safetensors").exists()


def test_imdb_downloader_reads_a_local_archive(tmp_path: Path) -> None:
    """The real IMDB loader on a local aclImdb_v1.tar.gz of the official layout (no network): extraction,
    <br /> removal, labels from the folders, and the official test half kept as the test split."""
    def add(tar: tarfile.TarFile, name: str, text: str) -> None:
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(tmp_path / "aclImdb_v1.tar.gz", "w:gz") as tar:
        for part in ("train", "test"):
            for cls, text in (("pos", "a great film<br />loved it"), ("neg", "dull and boring")):
                for i in range(6):
                    add(tar, f"aclImdb/{part}/{cls}/{i}_7.txt", f"{text} {i}")
    data = load_imdb(tmp_path)
    assert len(data.texts) == 24 and sorted(set(data.labels.tolist())) == [0, 1]
    assert all("<br />" not in t for t in data.texts) and (tmp_path / "aclImdb" / "test" / "neg").is_dir()
    split = load_text("imdb", data_dir=tmp_path, seed=0)
    assert sorted(split.splits["test"].tolist()) == list(range(12, 24))  # the official test half
    assert not set(split.splits["train"]) & set(split.splits["val"])
    assert len(load_imdb(tmp_path, limit=2).texts) == 8


def test_jena_downloader_reads_a_local_zip_and_offline_is_one_line(tmp_path: Path, monkeypatch) -> None:
    from zoo.data import series

    rows = ["Date Time,p (mbar),T (degC)"] + [f"01.01.2009 00:{i:02d}:00,996.5,{i * 0.5:.2f}" for i in range(60)]
    with zipfile.ZipFile(tmp_path / "jena_climate_2009_2016.csv.zip", "w") as z:
        z.writestr("jena_climate_2009_2016.csv", "\n".join(rows) + "\n")
    got = series.load_jena(tmp_path)
    np.testing.assert_allclose(got.values, np.arange(0, 60, 6) * 0.5)  # hourly: every 6th 10-minute reading
    assert got.column == "T (degC)"

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.utils.download_url", offline)
    with pytest.raises(ZooError, match="could not download jena-climate .*network is unreachable.*--data-dir") as info:
        series.load_jena(tmp_path / "empty")
    assert "\n" not in str(info.value)


def test_series_csv_and_windows(tmp_path: Path) -> None:
    from zoo import registry

    path = tmp_path / "sales.csv"
    path.write_text("day,sales\n" + "".join(f"{i},{10 + i % 7}\n" for i in range(120)))
    spec = registry.create("forecast-gru", {"data": str(path), "target": "sales", "lookback": 14, "horizon": 1})
    x, y = spec.data.take(spec.data.splits["test"][:3])
    first = int(spec.data.splits["test"][0])
    np.testing.assert_array_equal(x[0, :, 0], 10 + np.arange(first, first + 14) % 7)
    assert y[0, 0] == 10 + (first + 14) % 7 and x.shape == (3, 14, 1)
    assert spec.data.splits["train"].max() < spec.data.splits["val"].min() < spec.data.splits["test"].min()
    for overrides, phrase in (({"target": "units"}, "column 'units' (--target) is not in"),
                              ({"target": "sales", "lookback": 200}, "too few for --lookback 200")):
        with pytest.raises(ZooError, match=re.escape(phrase)):
            registry.create("forecast-gru", {"data": str(path), "lookback": 14, **overrides}).data  # noqa: B018
    path.write_text("day,sales\n1,3\n2,x\n")
    with pytest.raises(ZooError, match="non-numeric value on line 3"):
        registry.create("forecast-gru", {"data": str(path), "target": "sales"}).data  # noqa: B018


@pytest.fixture(scope="module")
def text_onnx(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny text-rnn run with its ONNX export."""
    from demos.prepare import ensure_onnx
    from exporters.sources import resolve_source

    run = tmp_path_factory.mktemp("text-rnn-demo") / "run"
    shutil.copytree(tiny_run("text-rnn"), run)
    ensure_onnx(resolve_source(str(run)), log=lambda *_: None)
    return run


def test_onnx_carries_the_tokenizer_and_is_padding_invariant(text_onnx: Path) -> None:
    import onnxruntime as ort

    from exporters.onnx import read_metadata
    from zoo import artifacts

    meta = read_metadata(text_onnx / "text-rnn.onnx")
    doc = json.loads(meta["zoo"])
    assert doc["tokenizer"] == json.loads((text_onnx / "tokenizer.json").read_text())
    assert "tokens: int64[batch, time]" in meta["input_layout"]
    session = ort.InferenceSession(str(text_onnx / "text-rnn.onnx"), providers=["CPUExecutionProvider"])
    ids = Vocabulary.from_dict(doc["tokenizer"]).encode_batch(TEXTS)
    short = session.run(None, {"tokens": ids[:, :12]})[0]
    for width in (ids.shape[1], 40):
        padded = np.pad(ids[:, :12], ((0, 0), (0, width - 12)))
        np.testing.assert_allclose(session.run(None, {"tokens": padded})[0], short, atol=1e-6, rtol=0)
    art = artifacts.load(text_onnx)
    np.testing.assert_allclose(art.predictor()({"tokens": ids})[0], session.run(None, {"tokens": ids})[0], atol=1e-5, rtol=0)


def test_text_demo_refuses_bad_input_and_keeps_answering(text_onnx: Path, tmp_path: Path) -> None:
    import onnxruntime as ort
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from demos.app import allowed_folders, build_app, launch
    from demos.prepare import demo_model, prepare
    from demos.text import Tokenizer
    from test_demos import free_port

    prepared = prepare(str(text_onnx), expected="text-rnn", examples_dir=tmp_path / "examples", log=lambda *_: None)
    model = demo_model(prepared, threads=1)
    session = ort.InferenceSession(str(prepared.onnx), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer(model.document["tokenizer"])
    good = "the acting was not dull, but the ending felt superb"
    expected = session.run(None, {"tokens": tokenizer.batch([good])})[0][0]
    assert tokenizer.batch([good]).dtype == np.int64  # the runtime feeds int64 ids, not float32
    app = build_app([model], "test")
    port = free_port()
    launch(app, host="127.0.0.1", port=port, block=False, allowed_paths=allowed_folders([model], tmp_path))
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)

        def answer_is_right() -> None:
            got = {c["label"]: c["confidence"] for c in client.predict(good, api_name="/text-rnn_classify")["confidences"]}
            assert got["positive"] == pytest.approx(float(expected[1]), abs=2e-6)

        answer_is_right()
        too_long = " ".join(["good"] * (tokenizer.max_len + 1))
        for text, phrase in (("", "is empty"), ("   ", "is empty"), (too_long, f"reads at most {tokenizer.max_len}"),
                             ("😀 ☃ ✓", "no words the model reads")):
            with pytest.raises(AppError, match=phrase):
                client.predict(text, api_name="/text-rnn_classify")
            answer_is_right()
        no_column = tmp_path / "no-column.csv"
        no_column.write_text("review\nthe film was great\n")
        with pytest.raises(AppError, match="no column 'text'"):
            client.predict(handle_file(str(no_column)), api_name="/text-rnn_classify_csv")
        answer_is_right()
        texts = tmp_path / "texts.csv"
        texts.write_text(f'id,text\n1,"{good}"\n2,the plot was boring\n')  # quoted: the text holds a comma
        table = client.predict(handle_file(str(texts)), api_name="/text-rnn_classify_csv")
        assert [r[0] for r in table["data"]] == [1, 2] and table["data"][0][3] == pytest.approx(float(expected[1]), abs=1e-4)
    finally:
        app.close()


def test_forecast_demo_plots_and_refuses_bad_input(tiny_run, tmp_path: Path) -> None:
    from demos.forecast import Forecaster
    from demos.inputs import InputError
    from demos.runtime import DemoModel
    from zoo import artifacts
    from zoo.artifacts import config_document

    art = artifacts.load(tiny_run("forecast-gru"))
    hook = art.spec.demo()
    model = DemoModel("forecast-gru", config_document(art.spec), {"kind": hook.kind, "extra": hook.extra}, art.predictor())
    forecaster = Forecaster(model)
    values = hook.examples[0]
    x = np.array([float(v) for v in values.split(",")], dtype=np.float32)
    value, frame = forecaster.forecast(values)
    assert value == pytest.approx(float(art.predictor()({"series": x[None, :, None]})[0][0, 0]), abs=1e-5)
    assert set(frame["series"]) == {"history", "forecast", "naive (value now)"} and len(frame) == len(x) + 4
    assert forecaster.forecast("1 2 3")[0] == forecaster.forecast("1, 2; 3")[0]  # any separator, any length
    for text, phrase in (("", "nothing was given"), ("1, two, 3", "value 2 is 'two', not a number"),
                         ("1, inf", "finite"), (" ".join(["1"] * (hook.extra["max_values"] + 1)), "the limit is")):
        with pytest.raises(InputError, match=phrase):
            forecaster.forecast(text)
    column = tmp_path / "series.csv"
    column.write_text("when,temperature\n" + "".join(f"{i},{v}\n" for i, v in enumerate(x)))
    with pytest.raises(InputError, match="no column 'value'"):
        forecaster.forecast_csv(str(column))
    forecaster.column = "temperature"
    assert forecaster.forecast_csv(str(column))[0] == pytest.approx(value, abs=1e-6)


def test_space_serves_int64_token_inputs(text_onnx: Path, tmp_path: Path) -> None:
    """`zoo space` for text-rnn: the Space folder's own loader (onnxruntime only) feeds int64 ids."""
    from demos.app import load_folder
    from demos.space import write_space
    from demos.text import TextClassifier

    space = write_space(str(text_onnx), tmp_path / "space", log=lambda *_: None)
    assert (space / "demos" / "text.py").is_file() and "💬" in (space / "README.md").read_text()
    _, [model] = load_folder(space)
    probabilities = TextClassifier(model).classify("the story was moving")
    assert set(probabilities) == {"negative", "positive"} and sum(probabilities.values()) == pytest.approx(1, abs=1e-5)


def test_a_second_recurrent_export_in_one_process_keeps_the_time_axis() -> None:
    """torch's while_loop RNN kernel is swapped in per export but the op's dispatch cache is not cleared, so
    after an eager GRU call a second torch.onnx export froze 'time' at the example's length (torch 2.14).
    exporters.onnx.build_onnx calls _forget_rnn_kernels first; here the raw torch export shows why."""
    import warnings

    from torch import nn

    from exporters.onnx import _forget_rnn_kernels

    torch.manual_seed(0)
    gru = nn.GRU(1, 3, batch_first=True).eval()
    for _ in range(2):
        gru(torch.randn(2, 5, 1))  # an eager call caches the eager kernel
        _forget_rnn_kernels()
        dims = {0: torch.export.Dim("batch", min=1), 1: torch.export.Dim("time", min=1)}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(gru, (torch.randn(2, 9, 1),), dynamo=True, input_names=["x"], dynamic_shapes=(dims,),
                                        report=False, verbose=False, optimize=False)
        assert [d.dim_param or d.dim_value for d in program.model_proto.graph.input[0].type.tensor_type.shape.dim] == ["batch", "time", 1]
