#!/usr/bin/python3
"""A stand-in for the Hugging Face Hub, for corelm pull's tests (no network).

Serves one repository made at start from a model folder (by default
tiny-models/stories260K-hf): every file of the folder plus a README.md, *.safetensors as LFS
files (ETag = sha256), the others as git files (ETag = git blob id), at a commit hash derived
from the contents. A second repository ORG/NAME-GGUF holds the --gguf files given.

  GET  /api/models/ORG/NAME/revision/REV[?blobs=true]   {"id", "sha", "siblings": [...]}
  HEAD/GET /ORG/NAME/resolve/REV/PATH   git files: 200 (+ Range); LFS files: 302 to /cdn/SHA256
  GET  /cdn/SHA256                      LFS bytes (+ Range), no token needed (a signed URL)

Knobs (command line): --require-token T (401 without "Authorization: Bearer T", 403 with
another), --cut-after N --cut-times K (the first K responses of a body longer than N bytes
stop after N bytes and the connection closes), --corrupt PATH (one byte of PATH flipped in what
is sent), --missing PATH (the listing names it, resolve answers 404), --no-blobs (the listing
has no sizes or hashes). Every request is appended to --log as one JSON line; the port, commit
and expected blob names go to --info as JSON, then the server prints "READY".
"""
import argparse
import hashlib
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def load_repo(folder, extra):
    files = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            files[name] = f.read()
    files.update(extra)
    entries = {}
    for name, data in files.items():
        lfs = name.endswith(".safetensors") or name.endswith(".gguf")
        sha256 = hashlib.sha256(data).hexdigest()
        blob_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        entries[name] = {"data": data, "lfs": lfs, "sha256": sha256, "blob_id": blob_id,
                         "etag": sha256 if lfs else blob_id}
    commit = hashlib.sha1("".join(e["etag"] for e in entries.values()).encode()).hexdigest()
    return {"commit": commit, "files": entries}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--repo", default="test-org/stories260K")
    ap.add_argument("--gguf", action="append", default=[], help="NAME=PATH of the -GGUF repo")
    ap.add_argument("--log", required=True)
    ap.add_argument("--info", required=True)
    ap.add_argument("--require-token")
    ap.add_argument("--cut-after", type=int, default=0)
    ap.add_argument("--cut-times", type=int, default=0)
    ap.add_argument("--corrupt")
    ap.add_argument("--missing")
    ap.add_argument("--no-blobs", action="store_true")
    args = ap.parse_args()

    repos = {args.repo: load_repo(args.model, {"README.md": b"# stories260K test fixture\n"})}
    if args.gguf:
        extra = {}
        for spec in args.gguf:
            name, path = spec.split("=", 1)
            with open(path, "rb") as f:
                extra[name] = f.read()
        empty = os.path.join(os.path.dirname(args.log), "empty-model-dir")
        os.makedirs(empty, exist_ok=True)
        repos[args.repo + "-GGUF"] = load_repo(empty, extra)
    by_sha = {e["sha256"]: e for r in repos.values() for e in r["files"].values() if e["lfs"]}
    state = {"cuts": args.cut_times}
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def record(self, status):
            log.write(json.dumps({"method": self.command, "path": self.path, "status": status,
                                  "range": self.headers.get("Range"),
                                  "auth": self.headers.get("Authorization")}) + "\n")

        def reply(self, status, body=b"", headers=None, error_code=None):
            self.record(status)
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if error_code:
                self.send_header("X-Error-Code", error_code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def authorized(self):
            if not args.require_token:
                return True
            got = self.headers.get("Authorization")
            if got == "Bearer " + args.require_token:
                return True
            msg = json.dumps({"error": "Access to this model is restricted."}).encode()
            self.reply(401 if got is None else 403, msg, error_code="GatedRepo")
            return False

        def send_bytes(self, data, headers, path):
            if args.corrupt and path == args.corrupt:
                data = bytearray(data)
                data[len(data) // 2] ^= 0x40
                data = bytes(data)
            start, status = 0, 200
            m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if m:
                start = int(m.group(1))
                if start >= len(data):
                    self.reply(416, headers={"Content-Range": "bytes */%d" % len(data)})
                    return
                status = 206
                headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
            body = data[start:]
            self.record(status)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if state["cuts"] > 0 and len(body) > args.cut_after:
                state["cuts"] -= 1
                self.wfile.write(body[:args.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", path)
            if m:
                return self.api(m.group(1), m.group(2), "blobs=true" in self.path)
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                return self.resolve(m.group(1), m.group(2), m.group(3))
            m = re.fullmatch(r"/cdn/([0-9a-f]{64})", path)
            if m and m.group(1) in by_sha:
                e = by_sha[m.group(1)]
                name = next(n for r in repos.values() for n, x in r["files"].items() if x is e)
                return self.send_bytes(e["data"], {"ETag": '"%s"' % e["sha256"]}, name)
            self.reply(404, b"not found")

        def api(self, repo, rev, blobs):
            if not self.authorized():
                return
            if repo not in repos:
                return self.reply(404, b'{"error": "Repository not found"}',
                                  error_code="RepoNotFound")
            r = repos[repo]
            if rev not in ("main", r["commit"]):
                return self.reply(404, b'{"error": "Invalid rev id"}',
                                  error_code="RevisionNotFound")
            siblings = []
            for name, e in r["files"].items():
                s = {"rfilename": name}
                if blobs and not args.no_blobs:
                    s["blobId"] = e["blob_id"]
                    s["size"] = len(e["data"])
                    if e["lfs"]:
                        s["lfs"] = {"sha256": e["sha256"], "size": len(e["data"]),
                                    "pointerSize": 134}
                siblings.append(s)
            body = json.dumps({"id": repo, "modelId": repo, "sha": r["commit"],
                               "siblings": siblings}).encode()
            self.reply(200, body, {"Content-Type": "application/json"})

        def resolve(self, repo, rev, name):
            if not self.authorized():
                return
            r = repos.get(repo)
            if r is None:
                return self.reply(404, b"Repository not found", error_code="RepoNotFound")
            if rev not in ("main", r["commit"]):
                return self.reply(404, b"Invalid rev id", error_code="RevisionNotFound")
            e = r["files"].get(name)
            if e is None or name == args.missing:
                return self.reply(404, b"Entry not found", error_code="EntryNotFound")
            common = {"X-Repo-Commit": r["commit"]}
            if e["lfs"]:
                return self.reply(302, headers=dict(common, **{
                    "Location": "/cdn/" + e["sha256"], "X-Linked-Etag": '"%s"' % e["sha256"],
                    "X-Linked-Size": str(len(e["data"])), "ETag": '"%s"' % e["blob_id"]}))
            self.send_bytes(e["data"], dict(common, ETag='"%s"' % e["blob_id"]), name)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    info = {"port": server.server_address[1],
            "repos": {name: {"commit": r["commit"],
                             "etags": {n: e["etag"] for n, e in r["files"].items()}}
                      for name, r in repos.items()}}
    with open(args.info + ".tmp", "w") as f:
        json.dump(info, f)
    os.rename(args.info + ".tmp", args.info)
    # One write, then stdout goes to /dev/null: the test stops reading once it has the line.
    os.write(1, b"READY\n")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
