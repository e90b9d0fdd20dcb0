"""The roomsync-release Zuul job's playbooks, run with ansible-playbook as an executor would.

The project is roomsync's own checkout, tagged as a release pipeline sees it (zuul.tag). The
build machinery (ZuulJob, the node's git trees) is tests/integration/test_zuul_jobs.py's. The
upload goes through the stand-in for zuul-jobs' upload-pypi role (tests/ansible/roles), which
runs twine as the real one does, to a package index on 127.0.0.1 that keeps what it receives:
what reaches it is compared byte for byte with what the build wrote, and the password of the
secret must reach it and nothing else (the job's output and logs are checked for it).
No network: build and twine come from the test's own environment (--no-index), and the
build runs without isolation.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.test_zuul_jobs import (  # noqa: F401  (node, zuul_job: the fixtures)
    ROOMSYNC_PROJECT,
    ZuulJob,
    commit,
    node,
    venv_reusing_test_packages,
    zuul_job,
)

TAG = "0.2.0"
USER = "__token__"


@dataclass
class Upload:
    fields: dict[str, str]
    filename: str
    content: bytes


@dataclass
class PackageIndex:
    """PyPI's upload API (twine's POST of multipart form data), keeping what it accepted."""

    url: str
    password: str
    uploads: list[Upload] = field(default_factory=list)
    refused: int = 0


def _parts(content_type: str, body: bytes) -> list[Message]:
    message = BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    parts = message.get_payload()
    assert isinstance(parts, list), "not multipart form data"
    return parts


@pytest.fixture
def package_index() -> Iterator[PackageIndex]:
    index = PackageIndex("", "pypi-" + secrets.token_urlsafe(24))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            expected = "Basic " + base64.b64encode(f"{USER}:{index.password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                index.refused += 1
                self.send_response(403, "Invalid or non-existent authentication information")
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fields, filename, content = {}, "", b""
            for part in _parts(self.headers["Content-Type"], body):
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                assert isinstance(name, str) and isinstance(payload, bytes)
                if name == "content":
                    filename, content = part.get_filename() or "", payload
                else:
                    fields[name] = payload.decode()
            index.uploads.append(Upload(fields, filename, content))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    index.url = f"http://127.0.0.1:{server.server_address[1]}/legacy/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield index
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def release_job(zuul_job, node, index: PackageIndex, tag: str | None) -> ZuulJob:  # noqa: F811
    """roomsync-release as the release pipeline runs it for roomsync's tag, with the secret pypi_info."""
    pypi_info = {"username": USER, "password": index.password, "repository": "test-index", "repository_url": index.url}
    job = zuul_job(
        "roomsync-release",
        secrets={"pypi_info": pypi_info},
        roomsync_release_python=sys.executable,
        roomsync_release_build_isolation=False,
        roomsync_release_pip_extra_args="--no-index",
    )
    job.secrets.append(index.password)
    job.variables["zuul"].update(project=ROOMSYNC_PROJECT, pipeline="release")
    if tag:
        job.variables["zuul"]["tag"] = tag
    venv = node.home / ".roomsync-release-venv"  # the role's default
    if not venv.exists():
        venv_reusing_test_packages(venv)
    return job


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_release_job_builds_checks_and_uploads_the_tagged_release(node, zuul_job, package_index):  # noqa: F811
    (node.roomsync / "roomsync" / "released.py").write_text('"""A change since 0.1.0."""\n')
    commit(node.roomsync, "a change for the next release", tag=TAG)
    job = release_job(zuul_job, node, package_index, TAG)

    for phase in ("pre", "run"):
        run = job.run(phase)
        assert run.code == 0, run
    dist = node.roomsync / "dist"
    built = {p.name: p.read_bytes() for p in dist.iterdir()}
    assert sorted(built) == [f"roomsync-{TAG}-py3-none-any.whl", f"roomsync-{TAG}.tar.gz"]
    assert f"roomsync {TAG}: roomsync-{TAG}-py3-none-any.whl, roomsync-{TAG}.tar.gz" in job.runs[-1].out, run
    assert "twine" in run.out and "PASSED" in run.out, run  # twine check's verdict, for each file
    assert package_index.uploads == []  # the run uploads nothing

    job.variables["zuul_success"] = True  # what Zuul sets for post-run after a passing run
    post = job.run("post")
    assert post.code == 0, post
    assert package_index.refused == 0
    uploaded = [(u.filename, u.fields["filetype"], u.fields["version"]) for u in package_index.uploads]
    assert uploaded == [  # wheels first, as upload-pypi does
        (f"roomsync-{TAG}-py3-none-any.whl", "bdist_wheel", TAG),
        (f"roomsync-{TAG}.tar.gz", "sdist", TAG),
    ]
    for upload in package_index.uploads:
        assert upload.content == built[upload.filename]  # exactly what the build wrote and twine checked
        assert upload.fields["sha256_digest"] == sha256(upload.content)
        assert upload.fields["name"] == "roomsync"
    job.assert_no_secret_leaked()


def test_release_job_uploads_nothing_that_is_not_the_tags_release(node, zuul_job, package_index):  # noqa: F811
    # Built outside a release pipeline: no tag, nothing is built. (pre.yaml: the test above.)
    untagged = release_job(zuul_job, node, package_index, None)
    run = untagged.run("run")
    assert run.code != 0, run
    assert "this build has none: nothing is built or uploaded" in run.out, run
    assert not (node.roomsync / "dist").exists()

    # The tag is not on the checked-out commit: the build is a dev version, and is refused.
    commit(node.roomsync, "the release", tag=TAG)
    head = commit(node.roomsync, "a commit after the release")
    behind = release_job(zuul_job, node, package_index, TAG)
    run = behind.run("run")
    assert run.code != 0, run
    assert f"roomsync-0.2.1.dev1+g{head[:7]}" in run.out and f"not roomsync {TAG}" in run.out, run
    behind.variables["zuul_success"] = False  # Zuul's post-run after a failed run
    post = behind.run("post")
    assert post.code == 0, post
    assert package_index.uploads == [] and package_index.refused == 0  # twine never ran
