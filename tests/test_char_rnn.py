"""char-rnn: the one-step graph is the full-sequence network, temperature reweights as Chollet does, the
sampler gives the same text on PyTorch and onnxruntime for one seed, bad text and bad generation requests
are one line, and the text-generator demo answers like the sampler and keeps answering after a refusal.
(Training, save/load, int8, ONNX/Keras export with parity at time lengths 1, 7, 64: the registry-wide tests.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from demos.text_generator import CharSampler, GenerationError, draw, reweight
from zoo import registry
from zoo.errors import ZooError


def test_stepping_one_character_at_a_time_equals_the_full_sequence() -> None:
    from zoo.models.char_rnn.model import CharRNNNet

    torch.manual_seed(0)
    net = CharRNNNet(11, 4, 6, 2, 0.0).eval()
    ids = torch.randint(0, 11, (3, 20))
    zeros = torch.zeros(3, 2, 6)
    with torch.no_grad():
        full, h_full, c_full = net(ids, zeros, zeros)
        h, c, steps = zeros, zeros, []
        for t in range(20):  # one character per call, the states fed back
            logits, h, c = net(ids[:, t:t + 1], h, c)
            steps.append(logits)
        torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-6, rtol=0)
        torch.testing.assert_close((h, c), (h_full, c_full), atol=1e-6, rtol=0)
        head, h7, c7 = net(ids[:, :7], zeros, zeros)  # ... and in uneven chunks
        tail, h20, c20 = net(ids[:, 7:], h7, c7)
        torch.testing.assert_close(torch.cat([head, tail], dim=1), full, atol=1e-6, rtol=0)
        assert h_full.shape == (3, 2, 6)  # batch-first states
        assert not torch.allclose(net(ids[:, 7:], zeros, zeros)[0], tail)  # the state inputs matter


def test_temperature_reweights_the_distribution() -> None:
    logits = np.array([2.0, 1.0, 0.5, -1.0])
    p = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(reweight(logits, 1.0), p)
    chollet = np.exp(np.log(p) / 0.5)  # Chollet's sample(): exp(log(p) / T), renormalised
    np.testing.assert_allclose(reweight(logits, 0.5), chollet / chollet.sum())
    assert reweight(logits, 0.0).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert reweight(logits, 0.01)[0] > 1 - 1e-12  # low temperature -> the argmax
    entropy = [float(-(q * np.log(q)).sum()) for q in (reweight(logits, t) for t in (0.2, 0.5, 1.0, 1.2, 5.0))]
    assert entropy == sorted(entropy) and entropy[-1] < np.log(4)  # higher temperature, flatter
    rng = np.random.default_rng(0)
    counts = np.bincount([draw(p, rng) for _ in range(4000)], minlength=4) / 4000
    np.testing.assert_allclose(counts, p, atol=0.03)  # draw() samples p


@pytest.fixture(scope="module")
def char_onnx(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny char-rnn run with its ONNX export (parity-checked at time lengths 1, 7, 64)."""
    from demos.prepare import ensure_onnx
    from exporters.sources import resolve_source

    run = tmp_path_factory.mktemp("char-rnn") / "run"
    shutil.copytree(tiny_run("char-rnn"), run)
    ensure_onnx(resolve_source(str(run)), log=lambda *_: None)
    return run


def test_generate_on_onnx_equals_pytorch_and_low_temperature_is_greedy(char_onnx: Path) -> None:
    from zoo import artifacts
    from zoo.generate_commands import generate, sampler_for

    onnx_file = str(char_onnx / "char-rnn.onnx")
    prime = "ROMEO:\nO, "
    for temperature in (1.0, 1.2):
        texts = {generate(src, prime, 60, temperature, seed=7) for src in (str(char_onnx), onnx_file)}
        assert len(texts) == 1 and len(next(iter(texts))) == 60
    assert generate(onnx_file, prime, 60, 1.0, seed=7) != generate(onnx_file, prime, 60, 1.0, seed=8)
    # temperature 0 (and a low one) is the argmax chain, computed here by hand on the PyTorch network
    art = artifacts.load(char_onnx)
    vocab = art.spec.vocabulary
    ids = torch.from_numpy(vocab.encode(prime))[None]
    zeros = torch.zeros(1, art.spec.config.layers, art.spec.config.hidden)
    greedy = []
    with torch.no_grad():
        logits, h, c = art.model(ids, zeros, zeros)
        for _ in range(40):
            greedy.append(int(logits[0, -1].argmax()))
            logits, h, c = art.model(torch.tensor([[greedy[-1]]]), h, c)
    assert generate(onnx_file, prime, 40, 0.0) == vocab.decode(greedy) == generate(str(char_onnx), prime, 40, 1e-5, seed=3)
    sampler = sampler_for(onnx_file)
    assert sampler.chars == vocab.chars and sampler.names == ("ids", "h", "c")


def test_bad_text_and_bad_generation_requests_are_one_line(char_onnx: Path, tmp_path: Path, capsys) -> None:
    import cli
    from zoo.generate_commands import generate

    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00abc" * 100)
    short = tmp_path / "short.txt"
    short.write_text("To be, or not to be.")
    for data, phrase in ((empty, "is empty"), (binary, "not UTF-8"), (short, "needs at least 200"),
                         (tmp_path / "missing.txt", "does not exist"), ("gutenberg", "unknown character data")):
        with pytest.raises(ZooError, match=phrase):
            registry.create("char-rnn", {"data": str(data)}).data  # noqa: B018
    own = tmp_path / "own.txt"  # a user's text: its own alphabet; config.json names the kind, not the local path
    own.write_text("Call me Ishmael. Some years ago, never mind how long precisely, having little money.\r\n" * 4)
    spec = registry.create("char-rnn", {"data": str(own), "seq_len": 20})
    assert spec.data.text.count("\n") == 4 and spec.config.chars == sorted(set(spec.data.text))
    assert spec.config.portable_dict()["data"] == "txt" and spec.config.local_dict()["data"] == str(own)
    with pytest.raises(ZooError, match="too few for --seq-len 100"):
        registry.create("char-rnn", {"limit": 210}).data  # noqa: B018
    onnx_file = str(char_onnx / "char-rnn.onnx")
    for argv, phrase in (([onnx_file, "--prime", "héllo ☃"], "character(s) the model never saw ('é', '☃')"),
                         ([onnx_file, "--prime", ""], "prime text is empty"),
                         ([onnx_file, "--prime", "The", "--length", "0"], "length 0 is not a whole number from 1"),
                         ([onnx_file, "--prime", "The", "--temperature", "-1"], "temperature -1.0 is outside 0"),
                         ([str(tmp_path / "nothing.onnx"), "--prime", "The"], "does not exist")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["generate", *argv])
        err = capsys.readouterr().err
        assert exit_info.value.code != 0 and phrase in err and "Traceback" not in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err
    with pytest.raises(SystemExit) as ok:  # a typed \n in --prime is a new line
        cli.main(["generate", onnx_file, "--prime", "HORATIO:\\nThe", "--length", "9", "--seed", "1"])
    out = capsys.readouterr().out
    assert ok.value.code == 0 and out == "HORATIO:\nThe" + generate(onnx_file, "HORATIO:\nThe", 9, 0.5, 1) + "\n"


def test_text_generator_demo_answers_like_the_sampler_and_keeps_answering(char_onnx: Path, tmp_path: Path) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from demos.app import allowed_folders, build_app, launch
    from demos.prepare import demo_model, prepare
    from demos.runtime import onnx_session, session_predict
    from test_demos import free_port

    prepared = prepare(str(char_onnx), expected="char-rnn", examples_dir=tmp_path / "examples", log=lambda *_: None)
    model = demo_model(prepared, threads=1)
    assert model.kind == "text-generator" and model.examples["primes"]
    direct = CharSampler.from_document(model.document, session_predict(onnx_session(prepared.onnx, 1)))
    prime = model.examples["primes"][0]
    expected = prime + direct.generate(prime, 30, 0.8, 5)
    app = build_app([model], "test")
    port = free_port()
    launch(app, host="127.0.0.1", port=port, block=False, allowed_paths=allowed_folders([model], tmp_path))
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert client.predict(prime, 30, 0.8, 5, api_name="/char-rnn_generate") == expected
        for args, phrase in (("", "prime text is empty"), ("naïve ✓", "never saw"),  # ours; the sliders' bounds: Gradio's
                             ((prime, 0), "less than minimum value 1"), ((prime, 10, 9.0), "greater than maximum")):
            args = (args,) if isinstance(args, str) else args
            full = (*args, *(30, 0.8, 5)[len(args) - 1:])
            with pytest.raises(AppError, match=phrase):
                client.predict(*full, api_name="/char-rnn_generate")
        assert client.predict(prime, 30, 0.8, 5, api_name="/char-rnn_generate") == expected
    finally:
        app.close()
    from demos.app import load_folder
    from demos.space import write_space

    space = write_space(str(char_onnx), tmp_path / "space", log=lambda *_: None)  # a Space: onnxruntime + the copied builder
    assert (space / "demos" / "text_generator.py").is_file()
    _, [served] = load_folder(space)
    assert prime + CharSampler.from_document(served.document, served.predict).generate(prime, 30, 0.8, 5) == expected
    with pytest.raises(GenerationError, match="no character vocabulary"):
        CharSampler.from_document({"inputs": []}, lambda feeds: [])


def test_fp16_export_of_the_step_graph_loads_and_matches(tiny_run, tmp_path: Path) -> None:
    """onnxruntime 1.32's NCHWc transformer crashed the process (SIGSEGV) creating a session for the fp16 step
    graph; fp16 sessions now go without it (exporters.runtime.FP16_DISABLED_OPTIMIZERS). A subprocess, so a
    crash fails this test instead of ending the run."""
    import subprocess
    import sys

    code = ("import sys; from exporters.export import export; "
            "r = export(sys.argv[1], 'onnx', sys.argv[2], fp16=True); print(r.parity['passed'])")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_run("char-rnn")), str(tmp_path)], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip().splitlines()[-1] == "True"
    assert (tmp_path / "char-rnn.fp16.onnx").is_file()
