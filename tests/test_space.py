"""`zoo space`: the generated Hugging Face Space folder is complete and serves the same answers as
onnxruntime, with neither torch nor zoo importable."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_demos import GREEK, SECOND, Reference, exported_siamese, free_port

# Run app.py as a user without zoo or torch would: the editable install's finder is removed (so `zoo`,
# `exporters` and the repo's `demos` cannot be found) and a meta-path hook refuses torch & co, recording
# every attempt in $BLOCKED_LOG. The Space's own demos/ package is found first, on sys.path[0].
RUN_WITHOUT_TORCH = r"""
import importlib.abc, os, runpy, sys
BLOCKED = {"torch", "torchvision", "lightning", "keras", "onnx", "onnxscript", "zoo", "exporters", "sklearn"}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            with open(os.environ["BLOCKED_LOG"], "a") as log:
                log.write(name + "\n")
            raise ModuleNotFoundError(f"{name} is blocked: the Space must not need it", name=name)
        return None
sys.meta_path[:] = [Refuse()] + [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
sys.path_importer_cache.clear()
# hide the repository's own modules (a virtualenv inside the repository keeps its site-packages)
sys.path[:] = [os.getcwd()] + [p for p in sys.path if p and (not p.startswith(os.environ["REPO"]) or "site-packages" in p)]
runpy.run_path("app.py", run_name="__main__")
"""


@pytest.fixture(scope="module")
def space(siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from demos.space import write_space

    run = exported_siamese(siamese_run, tmp_path_factory)
    return write_space(str(run), tmp_path_factory.mktemp("spaces") / "siamese-space", log=lambda *_: None)


def test_space_folder_is_complete(space: Path) -> None:
    import gradio

    files = {p.relative_to(space).as_posix() for p in space.rglob("*") if p.is_file()}
    assert {"app.py", "requirements.txt", "README.md", "demo.json", "siamese.onnx", "demos/__init__.py",
            "demos/app.py", "demos/inputs.py", "demos/runtime.py", "demos/ui.py", "demos/image_pair.py"} <= files
    assert not {"demos/prepare.py", "demos/space.py", "demos/commands.py", "demos/tabular.py"} & files
    imported = set()
    for module in (space / "demos").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "base64", "collections", "csv", "dataclasses", "functools", "html", "importlib",
                        "io", "json", "logging", "math", "os", "pathlib", "queue", "tempfile", "threading", "typing",
                        "warnings", "gradio", "numpy", "PIL", "onnxruntime", "demos"}, imported
    requirements = (space / "requirements.txt").read_text().split()
    assert {r.split("=")[0].split(">")[0] for r in requirements} == {"onnxruntime", "gradio", "numpy", "pillow"}
    assert f"gradio=={gradio.__version__}" in requirements
    readme = (space / "README.md").read_text(encoding="utf-8")
    header = readme.split("---\n")[1]
    for line in ("sdk: gradio", f"sdk_version: {gradio.__version__}", "app_file: app.py", "pinned: false",
                 "colorFrom: indigo", "colorTo: blue", 'title: "Siamese one-shot"', "emoji: "):
        assert line in header, line
    manifest = json.loads((space / "demo.json").read_text(encoding="utf-8"))
    (entry,) = manifest["models"]
    assert entry["hook"]["kind"] == "image-pair" and entry["onnx"] == "siamese.onnx"
    example_files = [pair[0]["file"] for pair in entry["examples"]["pairs"]]
    assert example_files and all((space / f).is_file() and f.startswith("examples/") for f in example_files)


def serve(space: Path, python: str, argv: list[str], env: dict[str, str]) -> Iterator[str]:
    """Run the Space's app in a subprocess on a free port; yield its URL once it answers; stop it."""
    import httpx

    port = free_port()
    env = {**env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = space.parent / f"{space.name}-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen([python, *argv], cwd=space, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the Space's app.py exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the Space did not answer within 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(20)


def check_answers(url: str, reference: Reference) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    for left, right in ((GREEK["alpha"], SECOND["alpha"]), (GREEK["pi"], SECOND["omega"])):
        score, _ = client.predict(handle_file(str(left)), handle_file(str(right)), api_name="/siamese_compare")
        assert score == pytest.approx(reference.same(left, right), abs=2e-6)
    ranked = client.predict([{"image": handle_file(str(p)), "caption": n} for n, p in GREEK.items()],
                            handle_file(str(SECOND["beta"])), api_name="/siamese_one_shot")
    assert {c["label"] for c in ranked["confidences"]} == set(GREEK)


def test_space_runs_with_torch_and_zoo_blocked(space: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked.log"
    blocked.touch()
    env = {**os.environ, "BLOCKED_LOG": str(blocked), "REPO": str(Path(__file__).parents[1])}
    env.pop("PYTHONPATH", None)
    for url in serve(space, sys.executable, ["-c", RUN_WITHOUT_TORCH], env):
        check_answers(url, Reference(space / "siamese.onnx"))
    attempts = set(blocked.read_text().split())
    assert not {"zoo", "exporters"} & {a.split(".")[0] for a in attempts}, attempts
    assert not list((space / "demos").glob("*.pyi")), "serving must not write files into the Space's code"


@pytest.fixture(scope="module")
def generator_space(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Space of the tiny dcgan run (an image generator: the other demo kind a Space must serve torch-free)."""
    import shutil

    from demos.space import write_space

    run = tmp_path_factory.mktemp("dcgan-run") / "run"
    shutil.copytree(tiny_run("dcgan"), run)
    return write_space(str(run), tmp_path_factory.mktemp("spaces") / "dcgan-space", log=lambda *_: None)


def check_generated(url: str, onnx_file: Path) -> None:
    """/dcgan_generate answers the image onnxruntime decodes from the seed's N(0, I) draw."""
    import numpy as np
    import onnxruntime as ort
    from gradio_client import Client
    from PIL import Image

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    dim = session.get_inputs()[0].shape[1]
    client = Client(url, verbose=False)
    for seed in (0, 12345):
        point = np.random.default_rng(seed).standard_normal((1, dim)).astype(np.float32)
        ink = session.run(None, {"latent": point})[0][0, 0]
        picture, latent = client.predict(seed, api_name="/dcgan_generate")
        np.testing.assert_allclose(latent, point[0], atol=1e-5)
        expected = np.rint(255 * (1 - np.clip(ink, 0, 1)))  # dark ink on white paper
        assert np.abs(np.asarray(Image.open(picture), dtype=np.float32) - expected).max() <= 1


def test_generator_space_runs_with_torch_and_zoo_blocked(generator_space: Path, tmp_path: Path) -> None:
    files = {p.relative_to(generator_space).as_posix() for p in generator_space.rglob("*") if p.is_file()}
    assert {"dcgan.onnx", "demos/generator.py", "demo.json"} <= files and "dcgan.discriminator.onnx" not in files
    blocked = tmp_path / "blocked.log"
    blocked.touch()
    env = {**os.environ, "BLOCKED_LOG": str(blocked), "REPO": str(Path(__file__).parents[1])}
    env.pop("PYTHONPATH", None)
    for url in serve(generator_space, sys.executable, ["-c", RUN_WITHOUT_TORCH], env):
        check_generated(url, generator_space / "dcgan.onnx")
    assert not {"zoo", "exporters"} & {a.split(".")[0] for a in blocked.read_text().split()}


@pytest.fixture(scope="module")
def fresh_venv(space: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A plain venv (no system site-packages) with only a Space's requirements.txt installed (the same for every Space)."""
    root = tmp_path_factory.mktemp("space-venv")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
                              str(space / "requirements.txt")], capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = subprocess.run([python, "-c", "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('zoo'))"],
                           capture_output=True, text=True, cwd=root, check=True, env=clean)
    assert probe.stdout.split() == ["None", "None"]
    return python


@pytest.mark.parametrize("kind", ["image-pair", "image-generator"])
def test_space_runs_in_a_fresh_venv_with_only_its_requirements(kind: str, fresh_venv: str, request: pytest.FixtureRequest) -> None:
    """The real thing: `python app.py` of a siamese and a dcgan Space in the venv of `pip install -r requirements.txt`."""
    space = request.getfixturevalue("space" if kind == "image-pair" else "generator_space")
    assert (space / "requirements.txt").read_text() == (request.getfixturevalue("space") / "requirements.txt").read_text()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for url in serve(space, fresh_venv, ["app.py"], env):
        if kind == "image-pair":
            check_answers(url, Reference(space / "siamese.onnx"))
        else:
            check_generated(url, space / "dcgan.onnx")
