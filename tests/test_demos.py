"""Gradio demos: a real server on a free localhost port, called with gradio_client and a headless browser.

The reference for every prediction is onnxruntime run directly on inputs prepared by the *training* data
pipeline (zoo.data.images.decode_image + the model's to_model_input), so the demo's own preprocessing is
checked, not assumed.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cli import main
from demos.prepare import ASSETS
LETTERS = ("alpha", "beta", "lambda", "pi", "omega")
GREEK = {name: ASSETS / f"omniglot-greek-{name}-1.png" for name in LETTERS}  # drawn by one person
SECOND = {name: ASSETS / f"omniglot-greek-{name}-2.png" for name in LETTERS}  # the same letters by another
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def exported_siamese(siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's tiny siamese run with its ONNX export, made once per test session
    (test_space.py reuses it): the fixture run itself stays read-only."""
    from demos.prepare import ensure_onnx
    from exporters.sources import resolve_source

    target = tmp_path_factory.getbasetemp() / "siamese-demo-run"
    if not (target / "siamese.onnx").is_file():
        shutil.copytree(siamese_run, target, dirs_exist_ok=True)
        ensure_onnx(resolve_source(str(target)), log=lambda *_: None)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Reference:
    """onnxruntime on the exported file, fed by the training pipeline's decoding (not the demo's)."""

    def __init__(self, onnx_path: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.size = self.session.get_inputs()[0].shape[-1]

    def array(self, path: Path) -> np.ndarray:
        from zoo.data.images import decode_image
        from zoo.models.siamese.model import to_model_input

        return to_model_input(decode_image(Path(path), size=(self.size, self.size), color="L", origin=str(path))[None])

    def same(self, left: Path, right: Path) -> float:
        return float(self.session.run(None, {"left": self.array(left), "right": self.array(right)})[0][0, 0])


@dataclass
class Served:
    url: str
    model: Any
    reference: Reference
    app: Any

    def client(self) -> Any:
        from gradio_client import Client

        return Client(self.url, verbose=False)


@pytest.fixture(scope="module")
def served(siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The siamese demo on a free port. ZOO_DEMO_SOURCE=RUN_DIR serves that run instead of the tiny one
    (every assertion holds for any siamese model; used to make docs/demo-siamese.png with a trained model)."""
    from demos.app import allowed_folders, build_app, launch
    from demos.prepare import demo_model, ensure_onnx, prepare
    from exporters.sources import resolve_source

    if os.environ.get("ZOO_DEMO_SOURCE"):
        run = Path(os.environ["ZOO_DEMO_SOURCE"])
        ensure_onnx(resolve_source(str(run)), log=lambda *_: None)
    else:
        run = exported_siamese(siamese_run, tmp_path_factory)
    prepared = prepare(str(run), expected="siamese", examples_dir=tmp_path_factory.mktemp("examples"), log=lambda *_: None)
    model = demo_model(prepared, threads=1)
    app = build_app([model], "test")
    port = free_port()
    launch(app, host="127.0.0.1", port=port, block=False, allowed_paths=allowed_folders([model]))
    try:
        yield Served(f"http://127.0.0.1:{port}/", model, Reference(run / "siamese.onnx"), app)
    finally:
        app.close()


def variants(tmp_path: Path) -> dict[str, Path]:
    """One Omniglot character saved the ways users send images: grayscale, RGB JPEG, CMYK JPEG, a larger
    RGB image, and an RGBA sketch whose paper is transparent (it must read as the opaque original)."""
    original = Image.open(GREEK["pi"]).convert("L")
    out = {"png-1bit": GREEK["pi"], "gray-png": tmp_path / "gray.png", "rgb-jpeg": tmp_path / "rgb.jpg",
           "cmyk-jpeg": tmp_path / "cmyk.jpg", "large-rgb": tmp_path / "large.png", "rgba-transparent": tmp_path / "rgba.png"}
    original.save(out["gray-png"])
    original.convert("RGB").save(out["rgb-jpeg"], quality=95)
    original.convert("RGB").convert("CMYK").save(out["cmyk-jpeg"], quality=95)
    original.convert("RGB").resize((420, 420), Image.Resampling.NEAREST).save(out["large-rgb"])
    ink = np.asarray(original) < 128
    rgba = np.zeros((*ink.shape, 4), dtype=np.uint8)  # black ink, alpha 255 on ink, 0 (transparent black) elsewhere
    rgba[..., 3] = np.where(ink, 255, 0)
    Image.fromarray(rgba, "RGBA").save(out["rgba-transparent"])
    return out


def test_compare_matches_onnxruntime_for_every_image_mode(served: Served, tmp_path: Path) -> None:
    from gradio_client import handle_file

    client = served.client()
    images = variants(tmp_path)
    for name, left in images.items():
        right = SECOND["pi"] if name != "large-rgb" else SECOND["omega"]
        score, verdict = client.predict(handle_file(str(left)), handle_file(str(right)), api_name="/siamese_compare")
        reference_left = GREEK["pi"] if name == "rgba-transparent" else left  # transparent paper = white paper
        expected = served.reference.same(reference_left, right)
        assert score == pytest.approx(expected, abs=2e-6), name
        assert verdict["label"] == ("same" if expected >= 0.5 else "different"), name
        assert {c["label"]: c["confidence"] for c in verdict["confidences"]}["different"] == pytest.approx(1 - expected, abs=2e-6)


def test_one_shot_ranks_classes_like_direct_scores(served: Served) -> None:
    from gradio_client import handle_file

    client = served.client()
    # captions name two classes; the others are named by their file names
    support = [{"image": handle_file(str(path)), "caption": name if name in ("alpha", "beta") else None}
               for name, path in GREEK.items()]
    ranked = client.predict(support, handle_file(str(SECOND["lambda"])), api_name="/siamese_one_shot")
    expected = {name if name in ("alpha", "beta") else path.stem: served.reference.same(SECOND["lambda"], path)
                for name, path in GREEK.items()}
    got = {c["label"]: c["confidence"] for c in ranked["confidences"]}
    assert got.keys() == expected.keys()
    for label, score in expected.items():
        assert got[label] == pytest.approx(score, abs=2e-6), label
    assert ranked["label"] == max(expected, key=lambda k: expected[k])


def png_bomb(path: Path, side: int) -> Path:
    """A valid grayscale PNG of side x side pixels, all paper; a few hundred KB on disk, side**2 bytes decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor, block, total, parts = zlib.compressobj(1), bytes(1 << 22), side * (side + 1), []
    for start in range(0, total, len(block)):
        parts.append(compressor.compress(block[: min(len(block), total - start)]))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def bad_images(tmp_path: Path) -> dict[str, tuple[Path | None, str]]:
    """name -> (file, a phrase the refusal must contain)."""
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    whole = GREEK["alpha"].read_bytes()
    truncated = tmp_path / "truncated.png"
    Image.open(GREEK["alpha"]).convert("L").resize((300, 300)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[: len(whole) // 2 + 200])
    return {
        "nothing": (None, "nothing was given"),
        "text-file": (text, "is not an image file"),
        "empty-file": (empty, "the file is empty"),
        "truncated": (truncated, "truncated or corrupt"),
        "6000x6000": (png_bomb(tmp_path / "big.png", 6000), "6000x6000 pixels"),
        "20000x20000": (png_bomb(tmp_path / "bomb.png", 20000), "too many pixels"),
    }


def test_bad_inputs_are_refused_with_a_message_and_the_server_keeps_serving(served: Served, tmp_path: Path) -> None:
    import httpx
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client = served.client()
    good = (handle_file(str(GREEK["alpha"])), handle_file(str(SECOND["alpha"])))
    expected = served.reference.same(GREEK["alpha"], SECOND["alpha"])
    for name, (path, phrase) in bad_images(tmp_path).items():
        with pytest.raises(AppError, match=phrase):
            client.predict(handle_file(str(path)) if path else None, good[1], api_name="/siamese_compare")
        with pytest.raises(AppError, match=phrase):
            client.predict([{"image": good[0], "caption": "alpha"}], handle_file(str(path)) if path else None,
                           api_name="/siamese_one_shot")
        assert client.predict(*good, api_name="/siamese_compare")[0] == pytest.approx(expected, abs=2e-6), f"after {name}"
    with pytest.raises(AppError, match="add one image per class"):
        client.predict([], good[1], api_name="/siamese_one_shot")
    # 50 MB: refused by the server's upload limit before any handler (gradio_client refuses it client-side too)
    big = tmp_path / "huge.bmp"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (3000, 5800, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 50e6
    with big.open("rb") as f:
        response = httpx.post(served.url + "gradio_api/upload", files={"files": ("huge.bmp", f, "image/bmp")}, timeout=60)
    assert response.status_code == 413
    # a server file nobody uploaded cannot be fed in by path (demos.ui.uploaded_path must not bypass this)
    call = served.url + "gradio_api/call/siamese_compare"
    by_path = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    event = httpx.post(call, json={"data": [by_path, by_path]}, timeout=30).json()["event_id"]
    stream = httpx.get(f"{call}/{event}", timeout=30).text
    assert "event: error" in stream and "not uploaded by a user" in stream
    assert client.predict(*good, api_name="/siamese_compare")[0] == pytest.approx(expected, abs=2e-6)


def test_load_image_limits_without_gradio(tmp_path: Path) -> None:
    from demos.inputs import MAX_FILE_BYTES, InputError, load_image

    oversized = tmp_path / "oversized.bmp"
    oversized.write_bytes(b"BM" + bytes(MAX_FILE_BYTES))
    with pytest.raises(InputError, match="the limit is 20.0 MB"):
        load_image(oversized, "left image")
    sixteen_bit = tmp_path / "sixteen.png"
    eight = np.asarray(Image.open(GREEK["pi"]).convert("L"))
    Image.fromarray(eight.astype(np.uint16) * 257).save(sixteen_bit)
    assert Image.open(sixteen_bit).mode.startswith("I")
    np.testing.assert_array_equal(np.asarray(load_image(sixteen_bit)), eight)


def test_requests_are_batched_and_a_failing_request_fails_alone() -> None:
    from demos.runtime import BatchingPredict

    def slow_double(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        time.sleep(0.05)
        if np.any(inputs["x"] < 0):
            raise ValueError("negative input")
        return [inputs["x"] * 2]

    def concurrently(batched: BatchingPredict, values: list[float]) -> list[Any]:
        results: list[Any] = [None] * len(values)
        start = threading.Barrier(len(values))

        def call(i: int) -> None:
            start.wait()
            try:
                results[i] = batched({"x": np.full((2, 3), values[i], dtype=np.float32)})[0]
            except ValueError as exc:
                results[i] = exc

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(values))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        return results

    batched = BatchingPredict(slow_double, max_rows=64)
    results = concurrently(batched, [float(i) for i in range(12)])
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, np.full((2, 3), 2.0 * i))
    assert batched.rows == 24 and batched.calls <= 4  # 12 requests that arrive together share model calls

    results = concurrently(BatchingPredict(slow_double, max_rows=64), [-1.0 if i == 5 else float(i) for i in range(12)])
    assert isinstance(results[5], ValueError)
    for i in set(range(12)) - {5}:
        np.testing.assert_array_equal(results[i], np.full((2, 3), 2.0 * i))


def test_torch_backend_agrees_with_onnxruntime(siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    from demos.image_pair import PairScorer
    from demos.prepare import demo_model, prepare

    run = exported_siamese(siamese_run, tmp_path_factory)
    scores = {}
    for backend in ("onnx", "torch"):
        model = demo_model(prepare(str(run), backend=backend, log=lambda *_: None))
        scores[backend] = PairScorer(model).compare(str(GREEK["beta"]), str(SECOND["beta"]))[0]
    assert model.backend == "PyTorch (CPU)"
    assert scores["torch"] == pytest.approx(scores["onnx"], abs=1e-4)


def test_every_registered_model_names_a_known_demo_kind() -> None:
    from demos.app import BUILDERS
    from zoo import registry

    for name in registry.names():
        hook = registry.create(name).demo()
        assert hook is not None and hook.kind in BUILDERS, name


def test_browser_uploads_two_images_and_reads_the_verdict(served: Served, tmp_path: Path) -> None:
    """Headless Chromium: upload two images, click Compare, read the score. ZOO_DEMO_SCREENSHOT=PATH keeps
    a screenshot there (docs/demo-siamese.png is made this way)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must `apt-get install -y chromium`.")
        pytest.skip(f"no {CHROMIUM}: install it with `apt-get install -y chromium` to run the browser test")
    from playwright.sync_api import sync_playwright

    left, right = GREEK["alpha"], SECOND["lambda"]
    expected = served.reference.same(left, right)
    screenshot = Path(os.environ.get("ZOO_DEMO_SCREENSHOT") or tmp_path / "demo-siamese.png")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(served.url, wait_until="networkidle")
            page.locator("#siamese-left input[type=file]").set_input_files(str(left))
            page.locator("#siamese-right input[type=file]").set_input_files(str(right))
            page.wait_for_timeout(500)
            page.locator("#siamese-compare").click()
            score = page.locator("#siamese-score input")
            page.wait_for_function("el => el.value !== ''", arg=score.element_handle(), timeout=30_000)
            assert float(score.input_value()) == pytest.approx(expected, abs=2e-6)
            verdict = page.locator("#siamese-verdict").inner_text()
            assert ("same" if expected >= 0.5 else "different") in verdict.splitlines()[1:3]
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000


# -- the CLI -------------------------------------------------------------------------------------------

def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    _, err = capsys.readouterr()
    return int(exit_info.value.code or 0), err


def test_cli_bad_input_is_one_line(siamese_run: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = exported_siamese(siamese_run, tmp_path_factory)
    onnx = str(run / "siamese.onnx")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("x")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = str(busy.getsockname()[1])
        cases = {
            "unknown model 'nope'": ["demo", "nope"],
            f"no finished siamese run under {tmp_path}": ["demo", "siamese", "--runs", str(tmp_path)],
            f"no finished run under {tmp_path}": ["demo", "--runs", str(tmp_path)],
            "--backend torch needs PyTorch weights": ["demo", "siamese", "--source", onnx, "--backend", "torch"],
            "--backend must be one of onnx, torch": ["demo", "siamese", "--source", str(run), "--backend", "tf"],
            "holds a 'siamese' model, not 'nlnl'": ["demo", "nlnl", "--source", onnx],
            "--port must be between 1 and 65535": ["demo", "siamese", "--port", "70000"],
            "serves one source, got 2": ["demo", "siamese", "--source", onnx, "--source", onnx],
            "two sources hold a 'siamese' model": ["demo", "--source", onnx, "--source", str(run)],
            f"cannot listen on 127.0.0.1:{busy_port}": ["demo", "siamese", "--source", onnx, "--port", busy_port],
            "already exists and is not an empty folder": ["space", "siamese", "--source", onnx, "--out", str(tmp_path / "taken")],
        }
        for phrase, argv in cases.items():
            code, err = run_cli(argv, capsys)
            assert code == 2, (argv, err)
            assert phrase in err and "Traceback" not in err, (argv, err)
            assert len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_demo_without_model_serves_every_trained_model_in_tabs(tiny_run: Any, siamese_run: Path, exports: Any, tmp_path: Path,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """`zoo demo` with no MODEL: the newest run of every registered model, one tab each, every first endpoint
    answering like onnxruntime on the model's own held-out inputs (spec.example_inputs)."""
    import onnxruntime as ort
    from gradio_client import Client, handle_file

    from demos.app import allowed_folders, build_app, launch
    from demos.prepare import demo_model, pick_sources, prepare
    from demos.runtime import class_probabilities
    from demos.tabular import feature_names
    from zoo import registry

    runs = tmp_path / "runs"
    for name in registry.names():
        source = exported_siamese(siamese_run, tmp_path_factory) if name == "siamese" else tiny_run(name)
        shutil.copytree(source, runs / name / "20250101-000000")
        if name != "siamese":  # the session's parity-checked export of these weights (test_exporters checks it)
            onnx = exports(name)[0]
            for done in (onnx.path, onnx.parity_path):
                shutil.copy(done, runs / name / "20250101-000000" / done.name)
    chosen = pick_sources(None, [], runs)
    assert sorted(n for n, _ in chosen) == registry.names()
    prepared = [prepare(src, expected=n, examples_dir=tmp_path / "examples", log=lambda *_: None) for n, src in chosen]
    models = [demo_model(p, threads=1) for p in prepared]
    app = build_app(models, "every model")
    port = free_port()
    launch(app, host="127.0.0.1", port=port, block=False, allowed_paths=allowed_folders(models, tmp_path / "examples"))
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for p, model in zip(prepared, models):
            session = ort.InferenceSession(str(p.onnx), providers=["CPUExecutionProvider"])
            meaning = model.document["outputs"][0].get("meaning")
            if model.kind == "image-pair":
                left, right = model.examples["pairs"][0]
                score, _ = client.predict(handle_file(left), handle_file(right), api_name=f"/{model.name}_compare")
                assert score == pytest.approx(Reference(p.onnx).same(Path(left), Path(right)), abs=2e-6)
                continue
            if model.kind == "image-generator":
                check_generator(client, model, session)
                continue
            if model.kind == "stylizer":  # an uploaded image -> the graph's image output as 8-bit RGB
                from demos.inputs import image_to_array, load_image

                photo = model.examples["images"][0]
                x = image_to_array(load_image(photo, "image"), model.preprocessing)
                direct = np.clip(np.rint(session.run(None, {"image": x[None]})[0][0] * 255), 0, 255).transpose(1, 2, 0)
                got = client.predict(handle_file(photo), api_name=f"/{model.name}_stylize")
                assert np.abs(np.asarray(Image.open(got), dtype=np.int16) - direct).max() <= 1, model.name
                continue
            if model.kind == "text-classifier":  # typed text -> the tokenizer JSON -> int64 ids
                from demos.text import Tokenizer

                text = model.examples["texts"][0]
                ids = Tokenizer(model.document["tokenizer"]).batch([text])
                direct = class_probabilities(session.run(None, {"tokens": ids})[0], meaning)[0]
                got = client.predict(text, api_name=f"/{model.name}_classify")
                names = model.document["labels"]
                for c in got["confidences"]:
                    assert c["confidence"] == pytest.approx(direct[names.index(c["label"])], abs=2e-6), (model.name, c)
                continue
            if model.kind == "text-pair":  # two typed texts -> the tokenizer JSON -> two int64 id inputs
                from demos.text import Tokenizer

                left, right = model.examples["pairs"][0]
                tokenizer = Tokenizer(model.document["tokenizer"])
                direct = session.run(None, {"left": tokenizer.batch([left]), "right": tokenizer.batch([right])})[0]
                score, _ = client.predict(left, right, api_name=f"/{model.name}_compare")
                assert score == pytest.approx(float(direct[0, 0]), abs=2e-6)
                continue
            if model.kind == "text-generator":  # the sampling loop around the one-step graph, on onnxruntime
                from demos.runtime import session_predict
                from demos.text_generator import CharSampler

                prime = model.examples["primes"][0]
                expected = prime + CharSampler.from_document(model.document, session_predict(session)).generate(prime, 20, 0.7, 4)
                assert client.predict(prime, 20, 0.7, 4, api_name=f"/{model.name}_generate") == expected
                continue
            if model.kind == "memory-qa":  # typed story and question -> the tokenizer JSON -> int64 ids
                from demos.memory import StoryEncoder

                story, question = model.examples["stories"][0]
                feeds = StoryEncoder(model.document["tokenizer"]).encode(story, question)
                direct = session.run(None, feeds)[0][0]
                got = client.predict(story, question, api_name=f"/{model.name}_answer")
                names = model.document["labels"]
                best = next(i for i in np.argsort(-direct, kind="stable") if names[i] not in ("<pad>", "<unk>"))
                assert got["label"] == names[best], model.name
                for c in got["confidences"]:
                    assert c["confidence"] == pytest.approx(direct[names.index(c["label"])], abs=2e-6), (model.name, c)
                continue
            if model.kind == "forecast":
                from demos.forecast import parse_values

                values = model.examples["series"][0]
                x = parse_values(values, 10_000)[None, :, None]
                value, _ = client.predict(values, api_name=f"/{model.name}_forecast")
                assert value == pytest.approx(float(session.run(None, {"series": x})[0][0, 0]), abs=1e-5)
                continue
            inputs = p.source.spec.example_inputs(6)  # what the examples were made from
            direct = class_probabilities(session.run(None, inputs)[0], meaning)
            for i in range(2):
                if model.kind == "image-classifier":
                    got = client.predict(handle_file(model.examples["images"][i]), api_name=f"/{model.name}_classify")
                else:
                    row = {"headers": feature_names(model), "data": [model.examples["rows"][i]]}
                    got = client.predict(row, api_name=f"/{model.name}_classify")[0]
                names = model.document["labels"]
                for c in got["confidences"]:
                    assert c["confidence"] == pytest.approx(direct[i][names.index(c["label"])], abs=2e-6), (model.name, c)
    finally:
        app.close()


def check_generator(client: Any, model: Any, session: Any) -> None:
    """/<name>_generate with a seed answers the image onnxruntime decodes from that seed's N(0, I) draw."""
    from demos.inputs import array_to_image

    extra = model.hook["extra"]
    point = np.random.default_rng(3).standard_normal((1, extra["latent_dim"])).astype(np.float32)
    feeds = {i.name: np.zeros([1 if isinstance(d, str) else d for d in i.shape], np.float32) for i in session.get_inputs()}
    feeds[extra["latent_input"]] = point
    names = [o.name for o in session.get_outputs()]
    direct = session.run(None, feeds)[names.index(extra["generated_output"])][0]
    picture, latent = client.predict(3, api_name=f"/{model.name}_generate")
    np.testing.assert_allclose(latent, point[0], atol=1e-5)
    expected = np.asarray(array_to_image(np.clip(direct, 0, 1), model.preprocessing), dtype=np.int16)
    assert np.abs(np.asarray(Image.open(picture), dtype=np.int16) - expected).max() <= 1, model.name
