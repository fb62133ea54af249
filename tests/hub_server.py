"""A model hub on localhost that speaks the endpoints huggingface_hub uses, for the download tests.

- `GET /api/models/{repo}/revision/{rev}`: repo info (commit `sha`, `siblings` with sizes);
- `GET /api/models/{repo}/tree/{rev}`: the file listing;
- `HEAD|GET /{repo}/resolve/{rev}/{file}`: `X-Repo-Commit`, `ETag`, `Content-Length`, byte ranges;
- `HEAD|GET /datasets/{owner}/{name}/resolve/{rev}/{file}`: the same for a dataset repo, added as
  `hub.add("datasets/OWNER/NAME", files)` (index packs).

Errors come as the hub sends them: `X-Error-Code: GatedRepo` (401), `RepoNotFound` (404),
`RevisionNotFound` (404). A repo can also drop the connection part-way through a weights file (once, or
every time) or answer every request only after a delay. Select it with `HF_ENDPOINT=hub.url`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

WEIGHT_SUFFIXES = (".safetensors", ".bin")
API = re.compile(r"^/api/models/(?P<repo>[^/]+(?:/[^/]+)??)(?:/(?P<kind>revision|tree)/(?P<rev>[^/]+)(?:/.*)?)?$")
RESOLVE = re.compile(r"^/(?P<repo>(?:datasets/[^/]+/[^/]+)|[^/]+(?:/[^/]+)?)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


@dataclass
class HubRepo:
    """One repo: its files at one commit, and how the hub misbehaves for it."""

    files: dict[str, bytes]
    commit: str
    gated: bool = False
    drop: Literal["once", "always"] | None = None  # cut the connection inside a weights file
    delay_s: float = 0.0  # answer every request only after this long
    dropped: set[str] = field(default_factory=set)


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_weights(path: str) -> bool:
    return path.endswith(WEIGHT_SUFFIXES)


class LocalHub:
    """A threaded HTTP server on 127.0.0.1; `requests` records (method, path, Range header)."""

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.released = threading.Event()  # set on stop: delayed answers stop waiting
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, name: str, files: dict[str, bytes], commit: str | None = None, **behaviour: object) -> HubRepo:
        commit = commit or hashlib.sha1(name.encode() + b"".join(files[f] for f in sorted(files))).hexdigest()
        repo = HubRepo(files=files, commit=commit, **behaviour)  # type: ignore[arg-type]
        self.repos[name] = repo
        return repo

    def add_folder(self, name: str, folder: Path, commit: str | None = None, **behaviour: object) -> HubRepo:
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        return self.add(name, files, commit, **behaviour)

    def __enter__(self) -> "LocalHub":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def _handler_for(hub: LocalHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._quietly(body=False)

        def do_GET(self) -> None:
            self._quietly(body=True)

        def _quietly(self, body: bool) -> None:
            try:
                self._serve(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts, drops)
                self.close_connection = True

        def _serve(self, body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            hub.requests.append((self.command, path, self.headers.get("Range")))
            api, resolve = API.match(path), RESOLVE.match(path)
            match = api or resolve
            repo = hub.repos.get(match["repo"]) if match else None
            if repo is not None and repo.delay_s:
                hub.released.wait(repo.delay_s)
            if match is None or repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            if (match["rev"] or "main") not in ("main", repo.commit):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {match['rev']}")
            if api is not None:
                return self._json(_tree(repo) if api["kind"] == "tree" else _repo_info(match["repo"], repo))
            if repo.gated:
                return self._error(401, "GatedRepo", "Access to this model is restricted: accept its conditions")
            data = repo.files.get(resolve["file"])  # type: ignore[index]
            if data is None:
                return self._error(404, "EntryNotFound", "Entry not found")
            self._file(resolve["file"], data, repo, body)  # type: ignore[index]

        def _file(self, name: str, data: bytes, repo: HubRepo, body: bool) -> None:
            start = 0
            wanted = self.headers.get("Range")
            if wanted and (m := re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())):
                start = int(m[1])
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("ETag", f'"{_etag(name, data)}"')
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            drop = is_weights(name) and (repo.drop == "always" or (repo.drop == "once" and name not in repo.dropped))
            if drop:
                repo.dropped.add(name)
                cut = 0 if repo.drop == "always" else (len(data) - start) // 2
                self.wfile.write(data[start:start + cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(data[start:])

        def _json(self, payload: object) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(raw)

        def _error(self, status: int, code: str, message: str) -> None:
            raw = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(raw)

    return Handler


def _etag(name: str, data: bytes) -> str:
    """LFS files (weights) are named by their sha256, other files by their git blob id, as on the hub."""
    return hashlib.sha256(data).hexdigest() if is_weights(name) else git_blob_id(data)


def _entry(name: str, data: bytes) -> dict[str, object]:
    entry: dict[str, object] = {"type": "file", "path": name, "size": len(data), "oid": git_blob_id(data)}
    if is_weights(name):
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return entry


def _tree(repo: HubRepo) -> list[dict[str, object]]:
    return [_entry(name, data) for name, data in sorted(repo.files.items())]


def _repo_info(name: str, repo: HubRepo) -> dict[str, object]:
    siblings = []
    for file_name, data in sorted(repo.files.items()):
        sibling: dict[str, object] = {"rfilename": file_name, "size": len(data), "blobId": git_blob_id(data)}
        if is_weights(file_name):
            sibling["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
        siblings.append(sibling)
    return {"id": name, "modelId": name, "sha": repo.commit, "private": False,
            "gated": "manual" if repo.gated else False, "disabled": False, "siblings": siblings}
