"""siamese-lstm beyond the registry-wide contract: the generated pairs carry no word-overlap signal, a user's
CSV of pairs and its one-line errors, ONE shared encoder (weights, gradients, ONNX initialisers, one Keras
layer), symmetry and padding invariance, the int8 dynamic fix for LSTM nodes sharing weights, and the
text-pair demo in a generated Space (int64 ids, bad input refused while it keeps answering)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from zoo.data.text import tokenize
from zoo.data.text_pairs import ENTITIES, FORMS, TIMES, VERBS, generate_paraphrases, load_pairs, sentence
from zoo.errors import ZooError

FEATURES, HIDDEN = 6, 16


def test_a_swapped_pair_uses_the_same_words_and_bag_of_words_is_near_chance() -> None:
    from zoo import registry
    from zoo.models.siamese_lstm.model import pair_baselines

    rng = np.random.default_rng(0)
    for _ in range(200):  # "different" = the roles swapped: the very words of a "same" rendering
        a, p = rng.choice(len(ENTITIES), 2, replace=False)
        verb, form, time = str(rng.choice(VERBS)), str(rng.choice(FORMS)), str(rng.choice(["", *TIMES]))
        assert sorted(tokenize(sentence(ENTITIES[a], verb, ENTITIES[p], form, time))) == \
            sorted(tokenize(sentence(ENTITIES[p], verb, ENTITIES[a], form, time)))
    left, right, labels = generate_paraphrases(400)
    assert 0.4 < labels.mean() < 0.6 and generate_paraphrases(400)[0] == left  # balanced, seeded
    spec = registry.create("siamese-lstm", {"limit": 2000})
    scores = pair_baselines(spec.data, spec.vocabulary, 0)
    assert scores["bow_logreg"]["acc"] < 0.6 and abs(scores["word_overlap"]["auc"] - 0.5) < 0.08, scores


def test_a_users_csv_of_pairs_and_its_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main
    from zoo import registry

    path = tmp_path / "pairs.csv"
    rows = [("how old are you", "what is your age", 1), ("where do you live", "what is your name", 0)] * 12
    path.write_text("q1,q2,dup\n" + "".join(f'"{a}","{b}",{y}\n' for a, b, y in rows))
    spec = registry.create("siamese-lstm", {"data": str(path), "left_column": "q1", "right_column": "q2", "target": "dup"})
    assert spec.data.left[0] == "how old are you" and spec.data.labels.tolist() == [1, 0] * 12
    assert {"age", "live"} <= set(spec.config.vocab)
    cases = {"column 'q3' (--right-column) is not in": {"right_column": "q3"},
             "needs --target naming its column": {"target": ""}}
    for phrase, change in cases.items():
        with pytest.raises(ZooError, match=re.escape(phrase)):
            registry.create("siamese-lstm", {"data": str(path), "left_column": "q1", "right_column": "q2", "target": "dup",
                                             **change}).data  # noqa: B018
    bad = tmp_path / "bad.csv"
    bad.write_text("q1,q2,dup\nhi there,hello there,maybe\n")
    with pytest.raises(ZooError, match="must hold 0 or 1; line 2 has 'maybe'"):
        load_pairs(str(bad), left_column="q1", right_column="q2", target="dup")
    with pytest.raises(ZooError, match="apply to CSV files"):
        load_pairs("synthetic-paraphrases", target="dup")
    with pytest.raises(SystemExit) as exit_info:  # through the CLI: exit 2, one line, nothing trained
        main(["train", "siamese-lstm", "--data", str(path), "--left-column", "q1", "--right-column", "nope",
              "--target", "dup", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "column 'nope' (--right-column) is not in" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("merge,bidirectional", [("diff-product", False), ("cosine", True), ("concat", False)])
def test_one_shared_encoder_symmetry_and_padding_invariance(merge: str, bidirectional: bool) -> None:
    from zoo.models.siamese_lstm.model import SiameseLSTMNet

    torch.manual_seed(0)
    net = SiameseLSTMNet(30, 8, 8, 1, bidirectional, merge, 8, 0.0).eval()
    lstm_weights = [k for k in net.state_dict() if "weight_ih" in k]
    assert lstm_weights == ["encoder.forward_layers.0.weight_ih_l0"] + (["encoder.backward_layers.0.weight_ih_l0"] if bidirectional else [])
    left = torch.randint(2, 30, (5, 7))
    right = torch.randint(2, 30, (5, 4))
    left[:, 5:] = 0
    out = net(left, right)
    # padding invariance: more (or fewer) pads on either side change nothing
    torch.testing.assert_close(net(torch.nn.functional.pad(left, (0, 9)), right), out, atol=1e-6, rtol=0)
    torch.testing.assert_close(net(left[:, :5], torch.nn.functional.pad(right, (0, 3))), out, atol=1e-6, rtol=0)
    swapped = net(right, left)
    if merge == "concat":  # Chollet's concatenation is order-dependent
        assert not torch.allclose(swapped, out, atol=1e-4)
    else:
        torch.testing.assert_close(swapped, out, atol=1e-6, rtol=0)
    # one set of weights: the right input alone moves the same LSTM parameters the left one does
    net.zero_grad()
    net.logits(torch.zeros_like(left), right).sum().backward()
    assert net.encoder.forward_layers[0].weight_hh_l0.grad.abs().sum() > 0
    torch.testing.assert_close(net.encode(right), net.encode(right.clone()))


def shared_lstm_graph(direction: str = "forward") -> onnx.ModelProto:
    """Two LSTM nodes (left, right inputs, batch-first) reading ONE set of W/R/B initialisers, as a siamese export has."""
    rng = np.random.default_rng(0)
    n_dir = 2 if direction == "bidirectional" else 1
    weights = {"W": rng.standard_normal((n_dir, 4 * HIDDEN, FEATURES)) * 0.4,
               "R": rng.standard_normal((n_dir, 4 * HIDDEN, HIDDEN)) * 0.3,
               "B": rng.standard_normal((n_dir, 8 * HIDDEN)) * 0.1}
    nodes, inputs, outputs = [], [], []
    for side in ("left", "right"):
        nodes += [helper.make_node("Transpose", [side], [f"{side}_t"], perm=[1, 0, 2]),
                  helper.make_node("LSTM", [f"{side}_t", "W", "R", "B"], [f"{side}_Y"], name=f"lstm_{side}",
                                   hidden_size=HIDDEN, direction=direction),
                  helper.make_node("Transpose", [f"{side}_Y"], [f"{side}_out"], perm=[2, 0, 1, 3])]
        inputs.append(helper.make_tensor_value_info(side, TensorProto.FLOAT, ["batch", f"{side}_time", FEATURES]))
        outputs.append(helper.make_tensor_value_info(f"{side}_out", TensorProto.FLOAT, ["batch", f"{side}_time", n_dir, HIDDEN]))
    graph = helper.make_graph(nodes, "siamese", inputs, outputs,
                              initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


def run_onnx(model: onnx.ModelProto | Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, feeds)


def test_int8_dynamic_of_lstm_nodes_sharing_weights_stays_close_and_quantises_them_once(tmp_path: Path) -> None:
    """Regression: onnxruntime's LSTM quantiser transposed a shared int8 weight once per node, scrambling it
    (siamese-lstm accuracy 0.996 -> 0.62). exporters.quantize gives each node its own copy, then merges the
    identical int8 copies again."""
    from exporters.quantize import quantize_dynamic

    fp32 = shared_lstm_graph()
    target = quantize_dynamic(fp32, tmp_path / "int8.onnx")
    quantized = onnx.load(str(target))
    lstms = [n for n in quantized.graph.node if n.op_type == "DynamicQuantizeLSTM"]
    assert len(lstms) == 2 and lstms[0].input[1:3] == lstms[1].input[1:3]  # one int8 W and R, read by both nodes
    int8 = [i for i in quantized.graph.initializer if i.data_type == TensorProto.INT8 and len(i.dims) == 3]
    assert len(int8) == 2 and target.stat().st_size < 0.5 * len(fp32.SerializeToString())
    rng = np.random.default_rng(1)
    for batch, time in ((1, 1), (4, 7), (3, 40)):
        feeds = {"left": rng.standard_normal((batch, time, FEATURES)).astype(np.float32),
                 "right": rng.standard_normal((batch, max(1, time // 2), FEATURES)).astype(np.float32)}
        for reference, got in zip(run_onnx(fp32, feeds), run_onnx(target, feeds)):
            assert np.abs(got - reference).max() < 0.05, float(np.abs(got - reference).max())


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_keras_converter_reuses_one_layer_for_lstm_nodes_sharing_weights(direction: str) -> None:
    import keras

    from exporters.keras import onnx_to_keras

    proto = shared_lstm_graph(direction)
    model = onnx_to_keras(proto)
    kind = keras.layers.Bidirectional if direction == "bidirectional" else keras.layers.LSTM
    recurrent = [layer for layer in model.layers if isinstance(layer, (keras.layers.LSTM, keras.layers.Bidirectional))]
    assert len(recurrent) == 1 and isinstance(recurrent[0], kind)  # one real shared layer, called twice
    assert len(recurrent[0]._inbound_nodes) == 2
    rng = np.random.default_rng(2)
    for time in (1, 7, 30):
        feeds = {"left": rng.standard_normal((3, time, FEATURES)).astype(np.float32),
                 "right": rng.standard_normal((3, time + 2, FEATURES)).astype(np.float32)}
        got = model(feeds)
        got = [got[k] for k in ("left_out", "right_out")] if isinstance(got, dict) else list(got)
        for reference, value in zip(run_onnx(proto, feeds), got):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(value), reference, atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def pair_onnx(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny siamese-lstm run with its (parity-checked) ONNX export."""
    from demos.prepare import ensure_onnx
    from exporters.sources import resolve_source

    run = tmp_path_factory.mktemp("siamese-lstm") / "run"
    shutil.copytree(tiny_run("siamese-lstm"), run)
    ensure_onnx(resolve_source(str(run)), log=lambda *_: None)
    return run


def test_exported_graph_has_two_lstm_nodes_on_one_weight_set_and_one_keras_lstm(pair_onnx: Path) -> None:
    import json

    import keras

    from exporters.keras import onnx_to_keras
    from exporters.onnx import read_metadata

    path = pair_onnx / "siamese-lstm.onnx"
    proto = onnx.load(str(path))
    lstms = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert len(lstms) == 2 and lstms[0].input[1:4] == lstms[1].input[1:4]
    doc = json.loads(read_metadata(path)["zoo"])
    assert doc["tokenizer"] == json.loads((pair_onnx / "tokenizer.json").read_text())
    assert [i["dtype"] for i in doc["inputs"]] == ["int64", "int64"]
    report = json.loads((pair_onnx / "siamese-lstm.onnx.parity.json").read_text())
    assert report["passed"] and {axis: set(sizes) for axis, sizes in report["axes"].items()} == \
        {"left_time": {"1", "7", "64"}, "right_time": {"1", "7", "64"}}  # each input's own time axis, resized alone
    model = onnx_to_keras(proto)
    assert sum(isinstance(layer, keras.layers.LSTM) for layer in model.layers) == 1
    rng = np.random.default_rng(0)
    feeds = {"left": rng.integers(2, 20, (4, 9)), "right": rng.integers(2, 20, (4, 3))}  # different lengths
    feeds["left"][:, 6:] = 0
    got = keras.ops.convert_to_numpy(model(feeds) if len(model.outputs) == 1 else model(feeds)[0])
    np.testing.assert_allclose(got.reshape(-1), run_onnx(path, feeds)[0].reshape(-1), atol=1e-5, rtol=0)


def test_text_pair_demo_in_a_generated_space_refuses_bad_input_and_keeps_answering(pair_onnx: Path, tmp_path: Path) -> None:
    import gradio as gr

    from demos.app import load_folder
    from demos.inputs import InputError
    from demos.space import write_space
    from demos.text import Tokenizer
    from demos.text_pair import TextPairScorer
    from demos.ui import user_errors

    space = write_space(str(pair_onnx), tmp_path / "space", log=lambda *_: None)
    assert (space / "demos" / "text_pair.py").is_file() and (space / "demos" / "text.py").is_file()  # REQUIRES copied
    assert "siamese_lstm_compare" not in (space / "README.md").read_text() and "/siamese-lstm_compare" in (space / "README.md").read_text()
    _, [model] = load_folder(space)
    scorer = TextPairScorer(model)
    left, right = model.examples["pairs"][0]
    tokenizer = Tokenizer(model.document["tokenizer"])
    direct = run_onnx(pair_onnx / "siamese-lstm.onnx", {"left": tokenizer.batch([left]), "right": tokenizer.batch([right])})[0]
    p, verdict = scorer.compare(left, right)
    assert p == pytest.approx(float(direct[0, 0]), abs=2e-6) and verdict["same"] == p
    assert scorer.compare(right, left)[0] == pytest.approx(p, abs=1e-6)  # diff-product merge: symmetric
    compare = user_errors(scorer.compare)
    too_long = " ".join(["anna"] * (tokenizer.max_len + 1))
    for a, b, phrase in (("", right, "first text is empty"), (left, "  ", "second text is empty"),
                         (left, too_long, f"reads at most {tokenizer.max_len}"), ("☃ ✓", right, "no words the model reads")):
        with pytest.raises(InputError, match=re.escape(phrase)):
            scorer.compare(a, b)
        with pytest.raises(gr.Error):
            compare(a, b)
        assert compare(left, right)[0] == p  # and the demo keeps answering


def test_parity_resizes_only_the_axes_a_graph_has(tmp_path: Path) -> None:
    """An export spec may name axes of another graph (siamese-lstm: left_time, right_time); a graph without
    such an axis is checked at its own axes only, not re-run on unchanged inputs or resized by a wrong rule."""
    from test_parity_recurrent import TIME_SIZES as GRU_SIZES
    from test_parity_recurrent import TinyGRUSpec, gru_graph, onnx_file, onnx_predictor, torch_predictor

    from exporters.parity import check_parity, require_parity

    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, batch_first=True).eval()
    spec = TinyGRUSpec({"time": GRU_SIZES, "left_time": (2, 9)})
    report = check_parity(spec, torch_predictor(gru), onnx_predictor(onnx_file(gru_graph(gru), tmp_path / "g.onnx")))
    require_parity(report)
    assert set(report["axes"]) == {"time"} and set(report["axes"]["time"]) == {str(t) for t in GRU_SIZES}
