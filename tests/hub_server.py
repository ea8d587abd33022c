"""A local fake of the Hugging Face Hub HTTP API: the part huggingface_hub 2.4 calls for zoo push/pull.

It serves the real client (``HfApi``, ``snapshot_download``, ``hf_hub_download``) on 127.0.0.1 with:

- ``GET  /api/whoami-v2``                                token check (Bearer tokens registered in ``FakeHub.tokens``)
- ``POST /api/repos/create``                             create a model repo (initial commit with .gitattributes)
- ``POST /api/models/{repo}/branch/{branch}``            create a branch (``startingPoint`` optional)
- ``POST /api/models/{repo}/preupload/{rev}``            answers ``uploadMode: regular`` for every file, so no
                                                         LFS/Xet transfer happens (hf_xet cannot be faked here)
- ``POST /api/models/{repo}/commit/{rev}``               the NDJSON commit (header, file, deletedFile, deletedFolder)
- ``GET  /api/models/{repo}[/revision/{rev}][?blobs=true]``  model_info; siblings with blobId/size/lfs when blobs=true
- ``GET  /api/models/{repo}/tree/{rev}[/{path}]``        list_repo_tree (recursive or not)
- ``HEAD|GET /{repo}/resolve/{rev}/{path}``              file metadata and content (ETag, X-Linked-Etag,
                                                         X-Linked-Size, X-Repo-Commit, Content-Length)
- ``POST /api/validate-yaml``                            model card metadata checks (see ``validate_card_metadata``)

Errors carry the ``X-Error-Code`` header huggingface_hub maps to exceptions (``RepoNotFound``,
``RevisionNotFound``, ``EntryNotFound``). Files whose names match the Hub's default ``.gitattributes`` LFS
rules (weights, archives, images) are *described* as LFS (``lfs.sha256``, pointer blob id, ``X-Linked-Etag``)
even though they arrive through the regular upload path: this is how the real Hub describes them after a
Xet/LFS upload, and it lets tests exercise both sha256 (LFS) and git-sha1 (regular) verification.
Every request is logged in ``FakeHub.requests`` so tests can assert what the client did and did not fetch.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import importlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

# The Hub's default .gitattributes for new model repos (the patterns that matter here).
LFS_PATTERNS = ("*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.keras",
                "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet",
                "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "*.tar.*", "*.tar",
                "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*", "*.png", "*.jpg")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()

# https://huggingface.co/docs/hub/repositories-licenses (identifiers column)
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++
osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2
llama3.3 gemma unknown other
""".split())

# Hub task ids (pipeline_tag) a zoo model can plausibly carry; the real list is longer.
HUB_PIPELINE_TAGS = frozenset("""
image-classification image-feature-extraction zero-shot-image-classification object-detection image-segmentation
image-to-image image-to-text depth-estimation feature-extraction sentence-similarity text-classification
token-classification tabular-classification tabular-regression time-series-forecasting audio-classification
reinforcement-learning graph-ml other
""".split())


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    @property
    def blob_id(self) -> str:
        """The git object id: of the LFS pointer for LFS files, of the content otherwise (as on the Hub)."""
        return git_blob_sha1(self.pointer if self.lfs else self.data)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id


@dataclass
class Commit:
    oid: str
    parent: str | None
    summary: str
    files: dict[str, StoredFile]
    date: float = field(default_factory=time.time)


@dataclass
class Repo:
    repo_id: str
    private: bool
    sdk: str | None = None  # Spaces only: gradio, docker, static
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision, revision)
        return self.commits.get(oid)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.body = status, message, code, headers or {}, body or {}


def is_lfs(path: str, size: int) -> bool:
    name = path.rsplit("/", 1)[-1]
    return size >= 10 * 1024 * 1024 or any(fnmatch.fnmatch(name, p) for p in LFS_PATTERNS)


def validate_card_metadata(content: str) -> list[str]:
    """The checks the Hub applies to a README.md's YAML block that matter for zoo cards (errors, empty if valid)."""
    match = re.match(r"^\s*---\r?\n(.*?)\r?\n---\r?\n", content, re.DOTALL)
    if not match:
        return []  # no metadata block: the Hub only warns
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        return [f"YAML is invalid: {exc}"]
    if not isinstance(meta, dict):
        return ["metadata must be a YAML mapping"]
    errors = []
    license_id = meta.get("license")
    if license_id is not None and license_id not in HUB_LICENSES:
        errors.append(f'"license" must be one of the Hub license identifiers, got {license_id!r}')
    if license_id == "other" and not meta.get("license_name"):
        errors.append('"license_name" is required when "license" is "other"')
    tag = meta.get("pipeline_tag")
    if tag is not None and tag not in HUB_PIPELINE_TAGS:
        errors.append(f'"pipeline_tag" must be a Hub task id, got {tag!r}')
    for key in ("tags", "datasets", "metrics", "language"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            errors.append(f'"{key}" must be a string or a list of strings')
    for key in ("library_name", "model_name"):
        if key in meta and not isinstance(meta[key], str):
            errors.append(f'"{key}" must be a string')
    base = meta.get("base_model")
    if base is not None:
        for item in base if isinstance(base, list) else [base]:
            if not isinstance(item, str) or not re.fullmatch(r"[\w.\-]+/[\w.\-]+", item):
                errors.append(f'"base_model" must be Hub model ids (owner/name), got {item!r}')
    if meta.get("base_model_relation") not in (None, "adapter", "merge", "quantized", "finetune"):
        errors.append('"base_model_relation" must be one of adapter, merge, quantized, finetune')
    if "model-index" in meta:
        errors += _model_index_errors(meta["model-index"])
    return errors


def _model_index_errors(index: Any) -> list[str]:
    if not isinstance(index, list) or not index:
        return ['"model-index" must be a non-empty list']
    errors = []
    for model in index:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            errors.append('"model-index" entries need a "name"')
            continue
        for result in model.get("results") or []:
            task, dataset = result.get("task"), result.get("dataset")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append('"model-index[].results[].task.type" is required')
            if not isinstance(dataset, dict) or not isinstance(dataset.get("type"), str) or not isinstance(dataset.get("name"), str):
                errors.append('"model-index[].results[].dataset" needs "type" and "name"')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append('"model-index[].results[].metrics" must be a non-empty list')
                continue
            for metric in metrics:
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str) or "value" not in metric:
                    errors.append('each metric needs "type" and "value"')
                elif not isinstance(metric["value"], (int, float, str)) or isinstance(metric["value"], bool):
                    errors.append(f'metric {metric["type"]!r} has a non-scalar value')
    return errors


class FakeHub:
    """In-memory Hub state plus the HTTP server serving it (see the module docstring)."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # token -> user name
        self.repos: dict[str, Repo] = {}
        self.spaces: dict[str, Repo] = {}  # Space repos (POST /api/repos/create with type "space")
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.unhandled: list[tuple[str, str]] = []  # requests no route answered (a test should keep this empty)
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._counter = 0

    # -- server lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "the fake Hub is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(HubRequestHandler):
            state = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- state helpers (also used by tests to set up repos without HTTP) --------------------------
    def add_user(self, name: str, token: str) -> None:
        self.tokens[token] = name

    def create_repo(self, repo_id: str, private: bool = False, *, kind: str = "models", sdk: str | None = None) -> Repo:
        with self.lock:
            repo = Repo(repo_id, private, sdk)
            initial = self._new_commit(None, "initial commit", {".gitattributes": StoredFile(GITATTRIBUTES, lfs=False)})
            repo.commits[initial.oid] = initial
            repo.branches["main"] = initial.oid
            self.store(kind)[repo_id] = repo
            return repo

    def store(self, kind: str) -> dict[str, Repo]:
        """The repos of one kind: "models" or "spaces" (as in the /api/<kind>/... routes)."""
        return self.spaces if kind == "spaces" else self.repos

    def commit_files(self, repo_id: str, files: dict[str, bytes], *, branch: str = "main", summary: str = "seed") -> str:
        """Commit ``files`` to ``branch`` directly (test set-up); returns the commit oid."""
        with self.lock:
            repo = self.repos.get(repo_id) or self.create_repo(repo_id)
            head = repo.commits[repo.branches[branch]]
            content = dict(head.files)
            content.update({p: StoredFile(d, lfs=is_lfs(p, len(d))) for p, d in files.items()})
            commit = self._new_commit(head.oid, summary, content)
            repo.commits[commit.oid] = commit
            repo.branches[branch] = commit.oid
            return commit.oid

    def create_branch(self, repo_id: str, branch: str, start: str = "main") -> None:
        with self.lock:
            repo = self.repos[repo_id]
            repo.branches[branch] = repo.branches.get(start, start)

    def head(self, repo_id: str, branch: str = "main") -> Commit:
        repo = self.repos[repo_id]
        return repo.commits[repo.branches[branch]]

    def history(self, repo_id: str, branch: str = "main") -> list[Commit]:
        """Commits of ``branch``, newest first."""
        repo = self.repos[repo_id]
        out, oid = [], repo.branches[branch]
        while oid is not None:
            out.append(repo.commits[oid])
            oid = repo.commits[oid].parent
        return out

    def downloads(self, repo_id: str) -> list[str]:
        """Paths whose content (GET /resolve) was served for ``repo_id``."""
        prefix = f"/{repo_id}/resolve/"
        return [unquote(p.split("?")[0][len(prefix):]).split("/", 1)[1] for m, p in self.requests
                if m == "GET" and p.startswith(prefix)]

    def _new_commit(self, parent: str | None, summary: str, files: dict[str, StoredFile]) -> Commit:
        self._counter += 1
        oid = hashlib.sha1(f"{parent}:{summary}:{self._counter}:{sorted(files)}".encode()).hexdigest()
        return Commit(oid, parent, summary, files)

    # -- routes ------------------------------------------------------------------------------------
    def user_for(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        return self.tokens.get(authorization[len("Bearer "):])

    def readable_repo(self, repo_id: str, user: str | None, kind: str = "models") -> Repo:
        repo = self.store(kind).get(repo_id)
        if repo is None or (repo.private and user != repo_id.split("/")[0]):
            raise HubError(404 if user else 401, "Repository not found", "RepoNotFound")
        return repo

    def writable_repo(self, repo_id: str, user: str | None, kind: str = "models") -> Repo:
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        repo = self.readable_repo(repo_id, user, kind)
        if repo_id.split("/")[0] != user:
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def resolve(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(unquote(revision))
        if commit is None:
            raise HubError(404, f"Invalid rev id: {unquote(revision)}", "RevisionNotFound")
        return commit


class HubRequestHandler(BaseHTTPRequestHandler):
    state: FakeHub  # set by FakeHub.start on a subclass
    server_version = "FakeHub/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # -- plumbing ----------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        hub = self.state
        hub.requests.append((method, self.path))
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
        user = hub.user_for(self.headers.get("Authorization"))
        try:
            with hub.lock:
                for route_method, pattern, handler in ROUTES:
                    if method in route_method.split("|") and (m := re.fullmatch(pattern, path)):
                        handler(self, m, query, body, user, method)
                        return
            hub.unhandled.append((method, self.path))
            raise HubError(404, f"no such endpoint in the fake Hub: {method} {path}")
        except HubError as exc:
            headers = dict(exc.headers)
            if exc.code:
                headers["X-Error-Code"] = exc.code
            headers["X-Error-Message"] = exc.message
            self._send_json({"error": exc.message, **exc.body}, status=exc.status, headers=headers, head=method == "HEAD")

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None,
              head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(payload)

    def _send_json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None, head: bool = False) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers, head)

    # -- handlers ------------------------------------------------------------------------------------
    def whoami(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        self._send_json({"type": "user", "name": user, "fullname": user, "orgs": [],
                         "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def create_repo(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        payload = json.loads(body or b"{}")
        repo_type = payload.get("type", "model")
        if repo_type not in ("model", "space"):
            raise HubError(400, "the fake Hub hosts model and Space repos only")
        if repo_type == "space" and payload.get("sdk") not in ("gradio", "docker", "static"):
            raise HubError(400, "Invalid sdk: a Space needs sdk gradio, docker or static")
        kind = repo_type + "s"
        owner = payload.get("organization") or user
        repo_id = f"{owner}/{payload['name']}"
        if owner != user:
            raise HubError(403, f"You don't have the rights to create a {repo_type} under the namespace {owner!r}")
        url = f"{self.state.url}/{'spaces/' if repo_type == 'space' else ''}{repo_id}"
        if repo_id in self.state.store(kind):
            raise HubError(409, f"You already created this {repo_type} repo", body={"url": url})
        self.state.create_repo(repo_id, private=payload.get("visibility") == "private", kind=kind, sdk=payload.get("sdk"))
        self._send_json({"url": url, "name": repo_id, "id": repo_id})

    def create_branch(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        repo = self.state.writable_repo(m["repo"], user, _kind(m))
        branch = unquote(m["branch"])
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        start = json.loads(body or b"{}").get("startingPoint", "main")
        repo.branches[branch] = self.state.resolve(repo, start).oid
        self._send_json({})

    def preupload(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        repo = self.state.writable_repo(m["repo"], user, _kind(m))
        head = self.state.resolve(repo, m["rev"])
        files = json.loads(body)["files"]
        answer = []
        for f in files:
            existing = head.files.get(f["path"])
            answer.append({"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                           "oid": git_blob_sha1(existing.data) if existing else None})
        self._send_json({"files": answer, "commitOid": head.oid})

    def commit(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        repo = self.state.writable_repo(m["repo"], user, _kind(m))
        branch = unquote(m["rev"])
        if branch not in repo.branches:
            raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        head = repo.commits[repo.branches[branch]]
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit payload must start with a header line")
        header = lines[0]["value"]
        if header.get("parentCommit") and header["parentCommit"] != head.oid:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head.files)
        for item in lines[1:]:
            key, value = item["key"], item["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, "file content must be base64")
                data = base64.b64decode(value["content"])
                files[value["path"]] = StoredFile(data, lfs=is_lfs(value["path"], len(data)))
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: f for p, f in files.items() if not p.startswith(prefix)}
            else:  # lfsFile: preupload never asks for LFS, so a client sending one is misbehaving
                raise HubError(400, f"unexpected commit operation {key!r}: the fake Hub asked for regular uploads")
        commit = self.state._new_commit(head.oid, header.get("summary", ""), files)
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        self._send_json({"success": True, "commitOid": commit.oid, "commitUrl": f"{self.state.url}/{repo.repo_id}/commit/{commit.oid}",
                         "hookOutput": "", "pullRequestUrl": None})

    def model_info(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        repo = self.state.readable_repo(m["repo"], user, _kind(m))
        commit = self.state.resolve(repo, m["rev"] or "main")
        with_blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path, f in sorted(commit.files.items()):
            entry: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                entry.update(size=len(f.data), blobId=f.blob_id)
                if f.lfs:
                    entry["lfs"] = {"size": len(f.data), "sha256": f.sha256, "pointerSize": len(f.pointer)}
            siblings.append(entry)
        card = commit.files.get("README.md")
        card_data = _front_matter(card.data.decode()) if card else None
        self._send_json({
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id, "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0], "sha": commit.oid, "private": repo.private, "disabled": False,
            "gated": False, "downloads": 0, "likes": 0, "tags": (card_data or {}).get("tags", []),
            "pipeline_tag": (card_data or {}).get("pipeline_tag"), "library_name": (card_data or {}).get("library_name"),
            "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.date)),
            "createdAt": "2024-01-01T00:00:00.000Z", "cardData": card_data, "siblings": siblings,
        })

    def tree(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        repo = self.state.readable_repo(m["repo"], user, _kind(m))
        commit = self.state.resolve(repo, m["rev"])
        base = unquote(m["path"] or "").strip("/")
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = base + "/" if base else ""
        entries: dict[str, dict[str, Any]] = {}
        for path, f in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            for depth in range(1, len(parts)):  # folders on the way
                folder = prefix + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(folder, {"type": "directory", "oid": git_blob_sha1(folder.encode()), "size": 0, "path": folder})
            if recursive or len(parts) == 1:
                entry: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": len(f.data), "path": path}
                if f.lfs:
                    entry["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
                entries[path] = entry
        if base and not entries:
            raise HubError(404, f"{base} does not exist on {commit.oid}", "EntryNotFound")
        self._send_json(list(entries.values()))

    def resolve_file(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        repo = self.state.readable_repo(m["repo"], user, _kind(m))
        commit = self.state.resolve(repo, m["rev"])
        path = unquote(m["path"])
        f = commit.files.get(path)
        if f is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{f.etag}"', "Accept-Ranges": "bytes"}
        if f.lfs:
            headers.update({"X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(len(f.data))})
        self._send(200, f.data, "application/octet-stream", headers, head=method == "HEAD")

    def validate_yaml(self, m: re.Match, query: dict, body: bytes, user: str | None, method: str) -> None:
        payload = json.loads(body or b"{}")
        errors = validate_card_metadata(payload.get("content", ""))
        if "text/plain" in (self.headers.get("Accept") or ""):
            self._send(400 if errors else 200, "\n".join(errors).encode(), "text/plain")
        else:
            self._send_json({"errors": [{"message": e} for e in errors], "warnings": []}, status=400 if errors else 200)


def _front_matter(text: str) -> dict[str, Any] | None:
    match = re.match(r"^\s*---\r?\n(.*?)\r?\n---\r?\n", text, re.DOTALL)
    data = yaml.safe_load(match.group(1)) if match else None
    return data if isinstance(data, dict) else None


REPO = r"(?P<repo>[\w.\-]+/[\w.\-]+)"
KIND = r"(?P<kind>models|spaces)"


def _kind(m: re.Match) -> str:
    return m.groupdict().get("kind") or "models"


ROUTES = [
    ("GET", r"/api/whoami-v2", HubRequestHandler.whoami),
    ("POST", r"/api/repos/create", HubRequestHandler.create_repo),
    ("POST", r"/api/validate-yaml", HubRequestHandler.validate_yaml),
    ("POST", rf"/api/{KIND}/{REPO}/branch/(?P<branch>[^/]+)", HubRequestHandler.create_branch),
    ("POST", rf"/api/{KIND}/{REPO}/preupload/(?P<rev>[^/]+)", HubRequestHandler.preupload),
    ("POST", rf"/api/{KIND}/{REPO}/commit/(?P<rev>[^/]+)", HubRequestHandler.commit),
    ("GET", rf"/api/{KIND}/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", HubRequestHandler.tree),
    ("GET", rf"/api/{KIND}/{REPO}(?:/revision/(?P<rev>[^/]+))?", HubRequestHandler.model_info),
    ("GET|HEAD", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", HubRequestHandler.resolve_file),
    ("GET|HEAD", rf"/(?P<kind>spaces)/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", HubRequestHandler.resolve_file),
]


# Environment variables huggingface_hub reads (most of them once, at import, into huggingface_hub.constants).
HF_ENV_VARS = ("HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HF_XET_CACHE",
               "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
               "HUGGINGFACE_CO_STAGING")


def hf_env(endpoint: str, hf_home: os.PathLike[str] | str, *, token: str | None = None, offline: bool = False) -> dict[str, str | None]:
    """The environment a user would set: every HF variable given or explicitly unset (None)."""
    env: dict[str, str | None] = dict.fromkeys(HF_ENV_VARS)
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_TOKEN=token, HF_HUB_OFFLINE="1" if offline else None,
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_UPDATE_CHECK="1")
    return env


@contextlib.contextmanager
def hub_environment(env: dict[str, str | None]) -> Iterator[None]:
    """Apply ``env`` to this process as if it had been set before start-up: set the variables, then re-run
    huggingface_hub's import-time configuration (``importlib.reload(huggingface_hub.constants)``); undo both after."""
    from huggingface_hub import constants

    saved = {key: os.environ.get(key) for key in env}
    _set_environ(env)
    importlib.reload(constants)
    try:
        yield
    finally:
        _set_environ(saved)
        importlib.reload(constants)


def _set_environ(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def running_hub() -> Iterator[FakeHub]:
    hub = FakeHub().start()
    try:
        yield hub
    finally:
        hub.stop()


@contextlib.contextmanager
def quiet_hub(users: dict[str, str] | None = None) -> Iterator[FakeHub]:
    """A running fake Hub with ``users`` (name -> token) and huggingface_hub's progress bars off; on exit,
    fails if the client called an endpoint the fake Hub does not implement."""
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    disable_progress_bars()
    try:
        with running_hub() as server:
            for name, token in (users or {}).items():
                server.add_user(name, token)
            yield server
            assert not server.unhandled, f"the client called endpoints the fake Hub does not implement: {server.unhandled}"
    finally:
        enable_progress_bars()
