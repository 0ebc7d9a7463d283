"""A Hugging Face hub on loopback, serving folders from disk: lets `reelgraph models pull` download
for real (through huggingface_hub, over HTTP) with no network. Only what snapshot_download asks for:
the revision info (commit and file list) and each file's HEAD/GET under /resolve/."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


class FakeHub:
    def __init__(self, repos: dict[str, Path]):
        self.repos = {k: Path(v) for k, v in repos.items()}
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self._serve(body=False)

            def do_GET(self):
                self._serve(body=True)

            def _serve(self, body: bool):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"{self.command} {path}")
                parts = path.strip("/").split("/")
                if parts[:2] == ["api", "models"] and "tree" in parts:
                    i = parts.index("tree")
                    return self._tree("/".join(parts[2:i]), body)
                if parts[:2] == ["api", "models"] and "revision" in parts:
                    i = parts.index("revision")
                    repo = "/".join(parts[2:i])
                    return self._info(repo, body)
                if "resolve" in parts:
                    i = parts.index("resolve")
                    repo, name = "/".join(parts[:i]), "/".join(parts[i + 2:])
                    return self._file(repo, name, body)
                self._send(404, b'{"error":"not found"}', {"X-Error-Code": "EntryNotFound"}, body)

            def _send(self, code, data, headers, body):
                self.send_response(code)
                for k, v in {"Content-Length": str(len(data)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _info(self, repo, body):
                root = hub.repos.get(repo)
                if root is None:
                    return self._send(404, b'{"error":"Repository not found"}',
                                      {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"}, body)
                files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
                data = json.dumps({"id": repo, "modelId": repo, "sha": hub.commit(repo), "private": False,
                                   "siblings": [{"rfilename": f} for f in files]}).encode()
                self._send(200, data, {"Content-Type": "application/json"}, body)

            def _tree(self, repo, body):
                root = hub.repos.get(repo)
                if root is None:
                    return self._send(404, b"", {"X-Error-Code": "RepoNotFound"}, body)
                entries = []
                for p in sorted(root.rglob("*")):
                    rel = str(p.relative_to(root))
                    if p.is_dir():
                        entries.append({"type": "directory", "path": rel, "oid": hub.commit(rel), "size": 0})
                    else:
                        data = p.read_bytes()
                        entries.append({"type": "file", "path": rel, "size": len(data),
                                        "oid": hashlib.sha1(data).hexdigest()})
                self._send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"}, body)

            def _file(self, repo, name, body):
                root = hub.repos.get(repo)
                f = (root / name) if root else None
                if f is None or not f.is_file():
                    return self._send(404, b"", {"X-Error-Code": "EntryNotFound"}, body)
                data = f.read_bytes()
                etag = hashlib.sha256(data).hexdigest()
                self._send(200, data, {"X-Repo-Commit": hub.commit(repo), "ETag": f'"{etag}"',
                                       "Content-Type": "application/octet-stream"}, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def commit(self, repo: str) -> str:
        return hashlib.sha1(repo.encode()).hexdigest()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
