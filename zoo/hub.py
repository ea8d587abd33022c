"""The Hugging Face Hub: ``zoo push`` (one commit: weights, config, metrics, exports, model card) and verified
downloads for ``zoo pull`` and every ``hf://OWNER/NAME[@REVISION]`` source.

Downloads go through ``huggingface_hub.snapshot_download`` into the standard Hugging Face cache, so HF_HOME,
HF_HUB_CACHE, HF_ENDPOINT, HF_HUB_OFFLINE, tokens and revisions behave as in every Hugging Face library.
On top of it, zoo:

- downloads only safe files (safetensors/ONNX/Keras weights, JSON/YAML/Markdown/PNG metadata): never a
  pickle, never code, so nothing in a repo is ever executed (there is no ``trust_remote_code``);
- fetches ``config.json`` first and validates it against the registry before any weight is downloaded;
- verifies every file it returns against the Hub's hashes (sha256 of LFS files, git blob sha1 of the
  others), recorded at first download in ``.zoo-manifest.json`` inside the cache's snapshot folder, so a
  file corrupted or modified in the cache later is caught on every load, offline included.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import hashlib
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import io as zio
from zoo.errors import OfflineError, ZooError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

    from zoo.artifacts import Artifact

HUB_SCHEME = "hf://"
DEFAULT_REVISION = "main"
MANIFEST = ".zoo-manifest.json"
MANIFEST_FORMAT = 1
CONFIG_JSON = "config.json"
WEIGHTS = "model.safetensors"
EXPORT_FORMATS = ("onnx", "keras", "fp16", "int8")  # fp16/int8: ONNX variants under onnx/ (community layout)
# Where each --with format lands in the repo, and the exporters.export options that make it.
FORMAT_FILES = {"onnx": "model.onnx", "keras": "model.keras", "fp16": "onnx/model_fp16.onnx", "int8": "onnx/model_int8.onnx"}
FORMAT_OPTIONS: dict[str, dict[str, Any]] = {"onnx": {"to": "onnx"}, "keras": {"to": "keras"},
                                             "fp16": {"to": "onnx", "fp16": True}, "int8": {"to": "onnx", "quantize": "static"}}
DEMO_JSON = "demo.json"  # the demo's description (zoo.demos Space manifest): served with model.onnx, torch-free

# What `zoo.load("hf://...")` needs; `zoo pull` fetches every downloadable file by default.
LOAD_FILES = (CONFIG_JSON, "config.yaml", WEIGHTS, "metrics.json")
# Top-level files zoo may download. Everything else (pickles: *.bin *.pt *.ckpt *.pkl; code: *.py) never is.
DOWNLOADABLE = (CONFIG_JSON, "config.yaml", "metrics.json", "bench.json", "splits.json", "*.parity.json", "README.md",
                "*.png", WEIGHTS, "*.onnx", "*.keras", DEMO_JSON)
# Files in folders zoo may download: ONNX variants and the demo's example inputs.
NESTED_DOWNLOADABLE = ("onnx/*.onnx", "onnx/*.onnx.parity.json", "examples/*.png")
# What a torch-free demo or Space of a Hub model downloads: the pushed, parity-checked ONNX file and its demo.
DEMO_FILES = (CONFIG_JSON, "metrics.json", "model.onnx", "model.onnx.parity.json", DEMO_JSON, "examples/*")
# Files of a run directory that a push uploads (exports and the card are added by the push itself).
RUN_FILES = ("config.yaml", "metrics.json", "splits.json", "bench.json", "audit.json")


@dataclass(frozen=True)
class HubRef:
    """``OWNER/NAME`` plus an optional revision (branch, tag or commit)."""

    repo_id: str
    revision: str | None = None

    @property
    def rev(self) -> str:
        return self.revision or DEFAULT_REVISION

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    revision: str
    commit: str
    url: str
    files: list[str]
    sha256: dict[str, str]  # every pushed file -> its sha256 (what a release records in the presets file)


@contextlib.contextmanager
def use_endpoint(endpoint: str | None) -> Iterator[None]:
    """Talk to ``endpoint`` (e.g. a company Hub mirror) inside the block, as if HF_ENDPOINT had been set at
    start-up: huggingface_hub reads it once, at import, so its constants are re-read on entry and on exit.
    ``None`` changes nothing."""
    if not endpoint:
        yield
        return
    import importlib
    import os

    from huggingface_hub import constants

    saved = os.environ.get("HF_ENDPOINT")
    os.environ["HF_ENDPOINT"] = endpoint.rstrip("/")
    importlib.reload(constants)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("HF_ENDPOINT", None)
        else:
            os.environ["HF_ENDPOINT"] = saved
        importlib.reload(constants)


def parse_ref(text: str) -> HubRef:
    """``hf://OWNER/NAME[@REV]`` or ``OWNER/NAME[@REV]`` -> HubRef (a ZooError names the expected form)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    raw = text[len(HUB_SCHEME):] if text.startswith(HUB_SCHEME) else text
    repo_id, at, revision = raw.partition("@")
    repo_id = repo_id.strip("/")
    if repo_id.count("/") != 1 or (at and not revision):
        raise ZooError(f"'{text}' is not a Hub model id; write OWNER/NAME or OWNER/NAME@REVISION (e.g. hf://me/siamese@main).")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ZooError(f"'{repo_id}' is not a valid Hub repo id ({str(exc).splitlines()[0]}); use OWNER/NAME "
                       "with letters, digits, '-', '_' and '.'.") from None
    return HubRef(repo_id, revision or None)


# -- downloading ------------------------------------------------------------------------------------------

def download(source: str, files: Sequence[str] | None = None, *, force_download: bool = False) -> Path:
    """Download (or find in the cache) a zoo model and return its verified snapshot folder.

    ``files``: glob patterns selecting among the downloadable files (default: what ``zoo.load`` needs).
    Order: config.json, verified and validated against the registry, then the other files, verified.
    """
    ref = parse_ref(source)
    _reject_unsafe(files)
    snapshot = _snapshot_download(ref, ref.rev, [CONFIG_JSON], force_download)
    manifest = _manifest(ref, snapshot)
    _verify(ref, snapshot, [CONFIG_JSON], manifest)
    wanted = _select(ref, manifest, files)
    _validate_config(ref, snapshot, weights=WEIGHTS in wanted)
    rest = [name for name in wanted if name != CONFIG_JSON]
    if rest:
        # by commit hash: the files come from exactly the commit whose hashes the manifest holds
        _snapshot_download(ref, snapshot.name, [glob.escape(name) for name in rest], force_download)
    _verify(ref, snapshot, wanted, manifest)
    return snapshot


def is_downloadable(name: str) -> bool:
    """A file of a safe kind: a top-level name, or one folder down where NESTED_DOWNLOADABLE allows (the
    ``onnx/`` variants, ``examples/``); never a Windows separator, a colon, '..', a hidden or non-printable
    name (a repo file named ``..\\..\\x.png`` is never fetched)."""
    if any(c in name for c in "\\:") or not name.isprintable():
        return False
    parts = name.split("/")
    if any(part == "" or part.startswith(".") or ".." in part for part in parts):
        return False
    patterns = DOWNLOADABLE if len(parts) == 1 else NESTED_DOWNLOADABLE
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _reject_unsafe(files: Sequence[str] | None) -> None:
    for pattern in files or ():
        if not glob.has_magic(pattern) and not is_downloadable(pattern):
            raise ZooError(f"zoo does not download '{pattern}': only safetensors/ONNX/Keras weights and JSON/YAML/"
                           "Markdown/PNG metadata, never pickles or code; choose among those files.")


def _select(ref: HubRef, manifest: dict[str, Any], files: Sequence[str] | None) -> list[str]:
    patterns = list(files) if files is not None else list(LOAD_FILES)
    available = sorted(name for name in manifest["files"] if is_downloadable(name))
    if WEIGHTS not in available and any(fnmatch.fnmatchcase(WEIGHTS, p) for p in patterns):
        raise ZooError(f"{ref} has no {WEIGHTS}; it is not a finished zoo model (push one with `zoo push RUN --repo {ref.repo_id}`).")
    chosen = [name for name in available if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    if not chosen:
        raise ZooError(f"no downloadable file of {ref} matches {', '.join(patterns)}; available: {', '.join(available)}.")
    return sorted({CONFIG_JSON, *chosen})


def _snapshot_download(ref: HubRef, revision: str, patterns: list[str], force_download: bool) -> Path:
    from huggingface_hub import snapshot_download

    with hub_errors(ref):
        return Path(snapshot_download(ref.repo_id, revision=revision, allow_patterns=patterns,
                                      force_download=force_download))


def _refuse_local_paths(ref: HubRef, fields: dict[str, Any]) -> None:
    """A Hub config names data sets, never this machine's files: ``data: imagefolder:/home/...`` in a
    downloaded config must not make `zoo eval hf://...` read local folders."""
    from zoo.config import is_local_data

    data = fields.get("data")
    if isinstance(data, str) and is_local_data(data):
        raise ZooError(f"its config's data '{data}' is a local path; a Hub config may only name a data set "
                       "(see `zoo data`), so zoo will not read local files for it.")
    if fields.get("data_dir"):
        raise ZooError(f"its config sets 'data_dir' to the local path '{fields['data_dir']}'; a Hub config may not point at local files.")


def _validate_config(ref: HubRef, snapshot: Path, *, weights: bool) -> None:
    """The config must load (torch-free), name no local path, and, when weights will be fetched, fit
    the size bound (that check builds the network's shapes, so it needs torch)."""
    from zoo import registry
    from zoo.artifacts import read_config
    from zoo.config import load_config

    try:
        name, fields = read_config(snapshot)
        load_config(registry.config_class(name), overrides=fields, source=f"the config of {ref}")  # torch-free
        _refuse_local_paths(ref, fields)
        if weights:
            from zoo.model_size import expected_shapes

            expected_shapes(registry.create(name, fields))  # a config demanding a huge network: refused before its weights are fetched
    except ZooError as exc:
        raise ZooError(f"{ref} holds no usable zoo config, so no weight was downloaded: {exc}", exit_code=exc.exit_code) from None


# -- integrity -----------------------------------------------------------------------------------------------

def _manifest(ref: HubRef, snapshot: Path) -> dict[str, Any]:
    """The Hub's hashes of every file of the snapshot's commit: from the manifest written at first download,
    else from ``model_info(files_metadata=True)`` (then recorded, atomically, for later and offline loads)."""
    from huggingface_hub import HfApi, constants

    path = snapshot / MANIFEST
    if path.is_file():
        return _read_manifest(ref, path, snapshot.name)
    if _offline_mode():
        raise OfflineError(f"the cached snapshot of {ref} ({snapshot}) was not downloaded by zoo and has no {MANIFEST} "
                           f"to verify it against; run `zoo pull {ref}` once with HF_HUB_OFFLINE unset.")
    commit = snapshot.name
    with hub_errors(ref):
        info = HfApi().model_info(ref.repo_id, revision=commit, files_metadata=True)
    if info.sha != commit:
        raise ZooError(f"the Hub described commit {info.sha} when asked for {commit} of {ref}; retry, or pin a commit with @REVISION.")
    files: dict[str, dict[str, Any]] = {}
    for sibling in info.siblings or []:
        if sibling.lfs is not None:
            files[sibling.rfilename] = {"size": sibling.lfs.size, "sha256": sibling.lfs.sha256}
        elif sibling.blob_id:
            files[sibling.rfilename] = {"size": sibling.size, "git_sha1": sibling.blob_id}
    if CONFIG_JSON not in files:
        raise ZooError(f"{ref} has no {CONFIG_JSON}: it is not a zoo model (push one with `zoo push RUN --repo {ref.repo_id}`).")
    doc = {"format": MANIFEST_FORMAT, "repo_id": ref.repo_id, "commit": commit, "endpoint": constants.ENDPOINT, "files": files}
    zio.write_json(path, doc)
    return doc


def _read_manifest(ref: HubRef, path: Path, commit: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        valid = doc.get("format") == MANIFEST_FORMAT and doc.get("commit") == commit and isinstance(doc.get("files"), dict)
    except (OSError, ValueError, AttributeError):
        valid = False
    if not valid:
        raise ZooError(f"{path} is damaged, so the cached files of {ref} cannot be verified; delete it and run "
                       f"`zoo pull {ref} --force-download`.")
    return doc


def _verify(ref: HubRef, snapshot: Path, names: Sequence[str], manifest: dict[str, Any]) -> None:
    for name in names:
        path = snapshot / name
        if not path.is_file():
            raise ZooError(f"{name} of {ref} is missing from the cache ({snapshot}); run `zoo pull {ref}` with network access.")
        problem = file_mismatch(path, manifest["files"].get(name))
        if problem:
            raise ZooError(f"{name} of {ref} in the cache does not match the Hub ({problem}): it is corrupt or was modified "
                           f"after download, so it was not loaded; re-download it with `zoo pull {ref} --force-download`.")


def file_mismatch(path: Path, expected: dict[str, Any] | None) -> str | None:
    """Why ``path`` differs from the Hub's record ``{"size", "sha256" | "git_sha1"}``; None when it matches."""
    if not expected or not (expected.get("sha256") or expected.get("git_sha1")):
        return "the Hub recorded no hash for it"
    size = path.stat().st_size
    if expected.get("size") is not None and size != expected["size"]:
        return f"{size} bytes, the Hub has {expected['size']}"
    if expected.get("sha256"):
        actual, wanted, kind = sha256_of(path), expected["sha256"], "sha256"
    else:
        actual, wanted, kind = git_blob_sha1_of(path), expected["git_sha1"], "git blob sha1"
    return None if actual == wanted else f"{kind} {actual[:12]}…, the Hub has {wanted[:12]}…"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1_of(path: Path) -> str:
    """The git object id of a regular (non-LFS) file: sha1 of ``b"blob <size>\\0" + content``."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- pushing -------------------------------------------------------------------------------------------------

def push(source: str, repo: str, *, private: bool = False, revision: str | None = None, formats: Sequence[str] | str = (),
         commit_message: str | None = None, license: str = "mit") -> PushResult:
    """Upload a run (or any SOURCE) to ``repo`` as one commit, with a generated model card; returns the commit."""
    from huggingface_hub import HfApi

    from zoo import artifacts

    ref = parse_ref(repo)
    if ref.revision and revision and ref.revision != revision:
        raise ZooError(f"--repo {repo} names revision '{ref.revision}' but --revision is '{revision}'; give the branch once.")
    branch = revision or ref.revision or DEFAULT_REVISION
    formats = parse_formats(formats)
    api = HfApi(token=_require_token())
    with hub_errors(ref, pushing=True):
        api.whoami()  # a rejected token fails here, before any export work
    art = artifacts.load(source)
    if not art.metrics.get("metrics"):
        raise ZooError(f"{art.root} has no metrics.json results; finish training (or `zoo train --resume`) before pushing.")
    published_as = HubRef(ref.repo_id, None if branch == DEFAULT_REVISION else branch)
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        files = _stage(art, source, formats, published_as, license, Path(tmp))
        commit = _commit(api, published_as, branch, files, private=private, message=commit_message or _default_message(art))
        hashes = {name: sha256_of(path) for name, path in sorted(files.items())}
    return PushResult(ref.repo_id, branch, commit.oid, commit.commit_url, sorted(files), hashes)


def _stage(art: Artifact, source: str, formats: list[str], published_as: HubRef, license: str, staging: Path) -> dict[str, Path]:
    """Every file of the commit (path in repo -> local file): the run's files, exports, parity reports, README.md."""
    from zoo import card

    files = _run_files(art, staging)
    parity: dict[str, dict[str, Any]] = {}
    for fmt in formats:
        for name, path, report in _export(source, fmt, staging / "exports" / fmt):
            files[name] = path
            key = fmt if name == FORMAT_FILES[fmt] else f"{fmt} ({name})"  # further graphs: model.encoder.onnx
            parity[key] = _published_report(report, name, published_as)
            files[f"{name}.parity.json"] = zio.write_json(staging / f"{name}.parity.json", parity[key])
    if "onnx" in formats:
        files.update(_demo_files(art, files["model.onnx"], staging / "demo"))
    bench = (zio.read_json_object(files["bench.json"], "re-run `zoo bench` on the run, or delete bench.json")
             if "bench.json" in files else None)
    context = card.CardContext(published_as.repo_id, files={*files, "README.md"}, revision=published_as.revision,
                               license=license, bench=bench, parity=parity)
    files["README.md"] = zio.write_text(staging / "README.md", card.render(art, context))
    return files


def _commit(api: HfApi, ref: HubRef, branch: str, files: dict[str, Path], *, private: bool, message: str) -> Any:
    """Create the repo/branch if needed and commit ``files`` (plus deletions of stale zoo files) in one commit."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    operations: list[Any] = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in sorted(files.items())]
    with hub_errors(ref, pushing=True):
        _validate_card(files["README.md"])  # before anything is created on the Hub
        api.create_repo(ref.repo_id, private=private, exist_ok=True)
        if branch != DEFAULT_REVISION:
            api.create_branch(ref.repo_id, branch=branch, exist_ok=True)
        # zoo files of an earlier push that this one does not replace (e.g. a model.onnx of older weights) go
        stale = [name for name in api.list_repo_files(ref.repo_id, revision=branch) if is_downloadable(name) and name not in files]
        operations += [CommitOperationDelete(path_in_repo=name) for name in stale]
        commit = api.create_commit(ref.repo_id, operations, commit_message=message, revision=branch)
        _check_pushed(api, ref, commit.oid, files)
    return commit


def _validate_card(readme: Path) -> None:
    """The Hub's own check of the card metadata (POST /api/validate-yaml), as a one-line ZooError."""
    from huggingface_hub import ModelCard

    try:
        ModelCard(readme.read_text(encoding="utf-8")).validate()
    except ValueError as exc:  # validate() raises ValueError with the Hub's explanation on HTTP 400
        details = "; ".join(line.strip(" -") for line in str(exc).splitlines() if line.strip())
        raise ZooError(f"the Hub rejected the model card metadata ({details}); fix the option (e.g. --license) and push again.") from None


def parse_formats(formats: Sequence[str] | str | None) -> list[str]:
    items = formats.split(",") if isinstance(formats, str) else [p for f in formats or () for p in f.split(",")]
    chosen = [f.strip().lower() for f in items if f.strip()]
    unknown = [f for f in chosen if f not in EXPORT_FORMATS]
    if unknown:
        raise ZooError(f"unknown export format '{unknown[0]}' in --with; choose from {', '.join(EXPORT_FORMATS)} (e.g. --with onnx,keras,fp16,int8).")
    return list(dict.fromkeys(chosen))


def _require_token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise ZooError("pushing to the Hugging Face Hub needs a token: run `hf auth login` or set HF_TOKEN to a token with write access.")
    return token


def _run_files(art: Artifact, staging: Path) -> dict[str, Path]:
    """Files of the artifact to upload: weights, config, metrics, split, bench, pictures (never checkpoints or logs)."""
    from zoo.artifacts import config_document

    root = art.root
    files = {WEIGHTS: art.weights}
    config = root / CONFIG_JSON
    files[CONFIG_JSON] = config if _regular_file(config) else zio.write_json(
        staging / CONFIG_JSON, config_document(art.spec, art.metrics.get("command", "")))
    files.update({name: root / name for name in RUN_FILES if _regular_file(root / name)})
    for name in (CONFIG_JSON, "metrics.json"):  # runs recorded before commands were made portable
        if name in files:
            files[name] = _portable_copy(files[name], staging)
    files.update({png.name: png for png in sorted(root.glob("*.png")) if _regular_file(png) and _is_png(png)})
    return files


def _portable_copy(path: Path, staging: Path) -> Path:
    """``path`` itself, or a staged copy whose recorded ``command`` has this machine's paths cut out."""
    from zoo.config import portable_command

    doc = zio.read_json_object(path, "restore it from the run")
    command = doc.get("command")
    if not isinstance(command, str) or portable_command(command) == command:
        return path
    return zio.write_json(staging / path.name, {**doc, "command": portable_command(command)})


def _export(source: str, fmt: str, out_dir: Path) -> list[tuple[str, Path, dict[str, Any]]]:
    """(name in the repo, exported file, parity report) of every graph ``fmt`` writes: ``model.onnx`` and,
    for a model with further graphs, ``model.<graph>.onnx`` (likewise ``.keras``)."""
    try:
        from exporters.export import export
    except ImportError as exc:
        raise ZooError(f"--with {fmt} needs zoo's exporters (exporters.export), which cannot be imported ({exc}); "
                       "push without --with or install the full project.") from None
    result = export(source, out_dir=out_dir, **FORMAT_OPTIONS[fmt])
    stem, _, suffix = FORMAT_FILES[fmt].rpartition(".")
    return [(FORMAT_FILES[fmt], Path(result.path), dict(result.parity or {}))] + [
        (f"{stem}.{graph.parity['graph']}.{suffix}", Path(graph.path), dict(graph.parity)) for graph in result.graphs]


def _demo_files(art: Artifact, onnx_file: Path, staging: Path) -> dict[str, Path]:
    """demo.json (the demo's UI kind, title and examples, in the Space manifest format, serving model.onnx)
    and its example files under examples/, so `zoo demo`/`zoo space` of the repo need no PyTorch."""
    from dataclasses import asdict

    from demos.app import SPACE_MANIFEST
    from demos.prepare import collect_examples
    from demos.space import copy_examples
    from exporters.onnx import zoo_document

    hook = art.spec.demo()
    if hook is None:
        return {}
    hook_dict = asdict(hook)
    examples = collect_examples(art.spec, hook_dict, zoo_document(onnx_file), staging / "generated", log=lambda _: None)
    repo_files = staging / "repo"
    repo_files.mkdir(parents=True, exist_ok=True)
    examples = copy_examples(examples, repo_files / "examples", repo_files)
    manifest = {"title": hook.title or art.spec.name,
                "models": [{"name": art.spec.name, "onnx": "model.onnx", "hook": hook_dict, "examples": examples}]}
    files = {DEMO_JSON: zio.write_json(staging / SPACE_MANIFEST, manifest)}
    files.update({p.relative_to(repo_files).as_posix(): p for p in sorted(repo_files.rglob("*")) if p.is_file()})
    return files


def _published_report(report: dict[str, Any], name: str, ref: HubRef) -> dict[str, Any]:
    """The parity report as it applies in the repo: the file is ``name`` and its source is the repo's own
    weights (so `zoo verify model.onnx` after a pull re-checks against hf://...), not a local run path."""
    published = dict(report)
    if isinstance(report.get("target"), dict):
        published["target"] = {**report["target"], "file": name}
    if isinstance(report.get("source"), dict):
        published["source"] = {**report["source"], "path": f"{HUB_SCHEME}{ref}"}
    return published


def _default_message(art: Artifact) -> str:
    from zoo import __version__

    primary = art.metrics.get("primary_metric") or art.spec.primary_metric
    value = art.metrics.get("metrics", {}).get(primary)
    score = f": {primary} = {value:.4f}" if isinstance(value, (int, float)) else ""
    return f"Upload {art.spec.name} with zoo {__version__}{score}"


def _check_pushed(api: HfApi, ref: HubRef, commit: str, files: dict[str, Path]) -> None:
    """Read the new commit back and compare the Hub's hashes with the local files."""
    info = api.model_info(ref.repo_id, revision=commit, files_metadata=True)
    remote = {s.rfilename: ({"size": s.lfs.size, "sha256": s.lfs.sha256} if s.lfs else {"size": s.size, "git_sha1": s.blob_id})
              for s in info.siblings or []}
    for name, path in files.items():
        problem = file_mismatch(path, remote.get(name))
        if problem:
            raise ZooError(f"commit {commit[:12]} of {ref.repo_id} holds a different {name} than the one pushed ({problem}); push again.")


# -- errors ------------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def hub_errors(ref: HubRef, *, pushing: bool = False) -> Iterator[None]:
    """Turn huggingface_hub and network exceptions into one-line ZooErrors naming the problem and the fix."""
    from huggingface_hub import constants, errors

    # huggingface_hub >= 1.0 names the HTTP 404 of a file RemoteEntryNotFoundError (EntryNotFoundError before)
    remote_entry_missing = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)
    try:
        yield
    except errors.RevisionNotFoundError:
        raise ZooError(f"revision '{ref.rev}' not found in {ref.repo_id}; use an existing branch, tag or commit "
                       "(the default is main).") from None
    except errors.GatedRepoError:
        raise ZooError(f"{ref.repo_id} is gated; request access on its Hub page, then log in with `hf auth login`.") from None
    except errors.RepositoryNotFoundError:
        raise ZooError(f"repository {ref.repo_id} not found on {constants.ENDPOINT}; check the name, or log in "
                       "(`hf auth login` or HF_TOKEN) if it is private.") from None
    except (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError):
        raise _unreachable(ref, pushing, offline=_offline_mode()) from None
    except remote_entry_missing as exc:
        raise ZooError(f"a file is missing from {ref} on the Hub ({_server_message(exc)}); the repo is incomplete, push it again.") from None
    except errors.LocalTokenNotFoundError:
        raise ZooError("this needs a Hugging Face token: run `hf auth login` or set HF_TOKEN.") from None
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            raise ZooError("the Hub rejected the Hugging Face token (401): run `hf auth login` again or set a valid HF_TOKEN.") from None
        if status == 403:
            raise ZooError(f"your token may not write to {ref.repo_id} (403: {_server_message(exc)}); push to your own "
                           "namespace or use a token with write access to it.") from None
        raise ZooError(f"the Hub answered {status} for {ref} ({_server_message(exc)}); retry later, or check HF_ENDPOINT "
                       f"({constants.ENDPOINT}).") from None
    except _network_errors() as exc:
        raise _unreachable(ref, pushing, offline=_offline_mode(), detail=type(exc).__name__) from None


def _offline_mode() -> bool:
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)
    return check() if callable(check) else bool(constants.HF_HUB_OFFLINE)


def _unreachable(ref: HubRef, pushing: bool, *, offline: bool, detail: str = "") -> OfflineError:
    from huggingface_hub import constants

    if pushing:
        if offline:
            return OfflineError("HF_HUB_OFFLINE=1 is set and pushing needs the network; unset HF_HUB_OFFLINE.")
        return OfflineError(f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} to push {ref.repo_id}"
                            f"{f' ({detail})' if detail else ''}; check your network connection or HF_ENDPOINT, then retry.")
    if offline:
        return OfflineError(f"{ref} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE=1 "
                            f"forbids downloading it; unset HF_HUB_OFFLINE, or run `zoo pull {ref}` while online first.")
    return OfflineError(f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} for {ref}"
                        f"{f' ({detail})' if detail else ''} and it is not in the local cache; check your network "
                        "connection or HF_ENDPOINT, then retry.")


def _server_message(exc: Any) -> str:
    message = getattr(exc, "server_message", None) or str(exc)
    return " ".join(message.split())[:200]


def _network_errors() -> tuple[type[BaseException], ...]:
    """Transport-level exceptions of whichever HTTP client huggingface_hub uses (only those already imported)."""
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                               ("requests", ("ConnectionError", "Timeout"))):
        module = sys.modules.get(module_name)
        types += [getattr(module, n) for n in names if module is not None and hasattr(module, n)]
    return tuple(types)


def _regular_file(path: Path) -> bool:
    """A regular file that is not a symlink: a link in a run directory may point at anything."""
    return path.is_file() and not path.is_symlink()


def _is_png(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(8) == b"\x89PNG\r\n\x1a\n"
