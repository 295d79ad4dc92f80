"""The model store: immutable version directories under ``settings.model_store`` (a local path or any
fsspec URI such as ``s3://bucket/models``), and fetching a version to a local directory for loading.

A published version is never overwritten: files are uploaded under a hidden temporary name and then
moved to the final name, which must not exist yet, so readers never see a half-written version and a
retried publication cannot clobber one that a certificate already names. The sha256 over the files is
what the version row and the certificate record, so anyone can re-check a deployed model against them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fsspec.core import url_to_fs

_CHUNK = 1 << 20


class StoreError(Exception):
    """The store refused a write (the version already exists) or a version could not be fetched."""


@dataclass(frozen=True)
class PublishedVersion:
    """Where a version landed and what it holds."""

    uri: str
    sha256: str
    files: dict[str, str]  # relative path -> sha256 of the file


def file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every regular file under ``directory``, keyed by POSIX relative path, sorted."""
    root = Path(directory)
    out: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        out[path.relative_to(root).as_posix()] = digest.hexdigest()
    return out


def tree_digest(files: dict[str, str]) -> str:
    """One sha256 for a whole version: over ``"<sha256>  <path>\\n"`` lines sorted by path (sha256sum style),
    so a changed, added, removed or renamed file changes it."""
    lines = "".join(f"{files[name]}  {name}\n" for name in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def is_local(uri: str) -> bool:
    """True for a plain path or a ``file://`` URI (loaded in place, no copy)."""
    fs, _ = url_to_fs(uri)
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _join(root: str, *parts: str) -> str:
    if is_local(root):
        _, path = url_to_fs(root)
        return str(Path(path).resolve().joinpath(*parts))
    return "/".join([root.rstrip("/"), *parts])


def publish(local_dir: Path, store_root: str, lineage: str, label: str) -> PublishedVersion:
    """Copy ``local_dir`` into ``<store_root>/<lineage>/<label>`` as a new immutable version.

    Raises StoreError when that version directory already exists (never overwrite a published model).
    """
    files = file_digests(local_dir)
    if not files:
        raise StoreError("nothing to publish: the output directory is empty")
    final_uri = _join(store_root, lineage, label)
    staging_uri = _join(store_root, lineage, f".staging-{label}-{secrets.token_hex(4)}")
    fs, final_path = url_to_fs(final_uri)
    _, staging_path = url_to_fs(staging_uri)
    if fs.exists(final_path):
        raise StoreError(f"version directory {label} of {lineage} already exists; refusing to overwrite it")
    fs.makedirs(staging_path, exist_ok=True)
    try:
        for name in files:
            target = f"{staging_path.rstrip('/')}/{name}"
            parent = target.rsplit("/", 1)[0]
            fs.makedirs(parent, exist_ok=True)
            fs.put_file(str(Path(local_dir) / name), target)
        if fs.exists(final_path):
            raise StoreError(f"version directory {label} of {lineage} appeared concurrently; refusing to overwrite it")
        if is_local(store_root):
            os.rename(staging_path, final_path)  # atomic; fails when a non-empty directory is there
        else:
            fs.mv(staging_path, final_path, recursive=True)
    except BaseException:
        if fs.exists(staging_path):
            fs.rm(staging_path, recursive=True)
        raise
    return PublishedVersion(uri=final_uri, sha256=tree_digest(files), files=files)


def remove(uri: str) -> None:
    """Delete a version directory that was published but never registered (its transaction failed)."""
    fs, path = url_to_fs(uri)
    if fs.exists(path):
        fs.rm(path, recursive=True)


class Fetched:
    """A version as a local directory: the store path itself when local, else a temporary download
    removed by :meth:`cleanup` (a context manager)."""

    def __init__(self, uri: str, scratch: Path | None = None) -> None:
        self.uri = uri
        self._tmp: Path | None = None
        if is_local(uri):
            _, path = url_to_fs(uri)
            self.path = Path(path)
        else:
            self._tmp = Path(tempfile.mkdtemp(prefix="rtbf-fetch-", dir=scratch))
            fs, path = url_to_fs(uri)
            if not fs.exists(path):
                shutil.rmtree(self._tmp, ignore_errors=True)
                raise StoreError("the model version's storage location does not exist")
            fs.get(path.rstrip("/") + "/", str(self._tmp) + "/", recursive=True)
            self.path = self._tmp

    def cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
