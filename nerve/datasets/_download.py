"""Where a dataset's files live, and how they get there safely.

Resolution order for a dataset called ``name`` (``mnist``, ``cifar10``...):

1. an explicit directory (the ``path``/``root`` argument of a loader);
2. ``$NERVE_DATA/<name>`` -- ``NERVE_DATA`` names a directory with one folder per
   dataset holding the original files, gzipped or not (the layout of ``shared/data``);
3. the cache, ``$NERVE_CACHE/<name>`` or ``~/.cache/nerve/<name>``, where downloads go.

Downloads try each official mirror in turn, retry transient failures with exponential
backoff, stream into a temporary file while hashing, check the length and the md5/sha256,
and only then ``os.replace`` the file into place -- a crash never leaves a half file under
the real name. Archives are read member by member; only regular files with safe relative
names are ever written (no absolute paths, no ``..``, no links or devices). Nothing read
from a downloaded file is ever executed: no pickle anywhere.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import posixpath
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Resource", "DatasetError", "DatasetNotFoundError", "DownloadError", "cache_dir",
           "search_dirs", "find_file", "locate", "fetch", "download_file", "read_file",
           "read_tar_members", "safe_extract", "verify_file"]

USER_AGENT = "nerve-datasets/0.1 (+https://github.com/; python urllib)"
TIMEOUT = 30.0      # seconds per network operation
RETRIES = 3         # attempts per mirror for transient failures
BACKOFF = 1.0       # seconds before the 2nd attempt; doubles each time
CHUNK = 1 << 20


class DatasetError(ValueError):
    """A dataset file is malformed, truncated or fails its checksum."""


class DatasetNotFoundError(FileNotFoundError):
    """The files are not in any local directory and downloading is off or impossible."""


class DownloadError(OSError):
    """Every mirror failed; the message lists each attempt and where to put the files."""


@dataclass(frozen=True)
class Resource:
    """One file of a dataset as its mirrors serve it.

    ``md5``/``sha256`` are digests of the file exactly as served (checked on download,
    and on a local copy with that very name). ``raw_md5`` is the digest of the
    uncompressed content, so a file that was re-gzipped, or unzipped, still verifies.
    """

    filename: str
    md5: str | None = None
    sha256: str | None = None
    raw_md5: str | None = None
    size: int | None = None


# --- directories ---------------------------------------------------------------------------

def cache_dir(name: str) -> Path:
    """``$NERVE_CACHE/<name>``, else ``~/.cache/nerve/<name>`` (not created here)."""
    root = os.environ.get("NERVE_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "nerve"
    return base / name


def search_dirs(name: str, path=None, extra=()) -> list[Path]:
    """The local directories to look in, in order (see the module docstring)."""
    dirs: list[Path] = []
    if path is not None:
        p = Path(path).expanduser()
        dirs += [p, p / name, *(p / e for e in extra)]
    data = os.environ.get("NERVE_DATA")
    if data:
        dirs.append(Path(data).expanduser() / name)
    dirs.append(cache_dir(name))
    seen, out = set(), []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def _variants(filename: str) -> list[str]:
    """Names under which a served file may sit locally: as served, unzipped, re-zipped,
    and the ``train-images.idx3-ubyte`` spelling some unzip tools produce."""
    base = filename[:-3] if filename.endswith(".gz") else filename
    names = [filename, base, base + ".gz"]
    if "-idx" in base:
        dotted = base.replace("-idx", ".idx")
        names += [dotted, dotted + ".gz"]
    return list(dict.fromkeys(names))


def find_file(directory, filename: str) -> Path | None:
    """The local copy of ``filename`` in ``directory``, gzipped or not, or None."""
    d = Path(directory)
    for n in _variants(filename):
        p = d / n
        if p.is_file():
            return p
    return None


def locate(filenames, dirs) -> dict[str, Path] | None:
    """The first directory of ``dirs`` that holds *all* ``filenames`` (never a mix of two
    directories: two datasets share file names), as ``{filename: path}``; else None."""
    for d in dirs:
        found = {f: find_file(d, f) for f in filenames}
        if all(found.values()):
            return found
    return None


def where_message(label: str, filenames, dirs) -> str:
    listed = "\n  ".join(str(Path(d).absolute()) for d in dirs)
    return (f"put {', '.join(filenames)} (gzipped or not) in one of:\n  {listed}\n"
            f"or set NERVE_DATA to a directory holding a folder per dataset "
            f"(e.g. $NERVE_DATA/{label}/).")


# --- reading and verifying -----------------------------------------------------------------

def _hex(algo: str, data: bytes) -> str:
    return hashlib.new(algo, data, usedforsecurity=False).hexdigest()


def read_file(path, resource: Resource | None = None, verify: bool = True) -> bytes:
    """The file's content, gunzipped if it is gzip, checked against ``resource``.

    With ``raw_md5`` the uncompressed bytes are checked (any compression passes); else
    the served-file digest is checked when this file is the served file itself.
    """
    path = Path(path)
    blob = path.read_bytes()
    if verify and resource is not None and resource.raw_md5 is None \
            and path.name == resource.filename:
        _check_digests(path, blob, resource)
    data = blob
    if blob[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{path}: corrupt or truncated gzip data ({e})") from None
    if verify and resource is not None and resource.raw_md5 is not None:
        got = _hex("md5", data)
        if got != resource.raw_md5:
            raise DatasetError(
                f"{path}: checksum mismatch: the uncompressed content has md5 {got}, expected "
                f"{resource.raw_md5} ({resource.filename}); the file is corrupt or not the "
                f"original -- delete it to download it again")
    return data


def verify_file(path, resource: Resource) -> None:
    """Check a file as served (an archive) against its md5/sha256, streaming."""
    hashers = {a: hashlib.new(a, usedforsecurity=False) for a in ("md5", "sha256")
               if getattr(resource, a) is not None}
    if not hashers:
        return
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for h in hashers.values():
                h.update(chunk)
    for algo, h in hashers.items():
        want = getattr(resource, algo).lower()
        if h.hexdigest() != want:
            raise DatasetError(
                f"{path}: checksum mismatch: {algo} {h.hexdigest()}, expected {want} "
                f"({resource.filename}); the file is corrupt or not the original -- delete it "
                f"to download it again")


def _check_digests(path, blob: bytes, r: Resource) -> None:
    for algo, want in (("md5", r.md5), ("sha256", r.sha256)):
        if want is None:
            continue
        got = _hex(algo, blob)
        if got != want.lower():
            raise DatasetError(
                f"{path}: checksum mismatch: {algo} {got}, expected {want} "
                f"({r.filename}); the file is corrupt or not the original -- delete it (or "
                f"pass verify=False if you re-compressed it yourself)")


# --- downloading ---------------------------------------------------------------------------

class _Transient(Exception):
    """A failure worth retrying on the same mirror."""


def _progress(total, name: str, show: bool):
    """A tqdm bar on an interactive terminal, else None."""
    if not show or total is None or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=int(total), unit="B", unit_scale=True, desc=name, leave=False)


def _get(url: str, dest: Path, r: Resource, timeout: float, show: bool = False) -> None:
    """Stream ``url`` into a temp file next to ``dest``; verify; rename into place."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    bar = None
    try:
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.sha256()
        n = 0
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            bar = _progress(length, dest.name, show)
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                md5.update(chunk)
                sha.update(chunk)
                n += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
        if length is not None and n != int(length):
            raise _Transient(f"connection closed after {n} of {length} bytes")
        if r.size is not None and n != r.size:
            raise DatasetError(f"size {n} bytes, expected {r.size}")
        for algo, want, h in (("md5", r.md5, md5), ("sha256", r.sha256, sha)):
            if want is not None and h.hexdigest() != want.lower():
                raise DatasetError(f"checksum mismatch: {algo} {h.hexdigest()}, expected {want}")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a dataset file is ordinary data
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        if bar is not None:
            bar.close()


def _is_transient(e: BaseException) -> bool:
    if isinstance(e, urllib.error.HTTPError):
        return e.code >= 500 or e.code in (408, 429)
    return isinstance(e, (_Transient, urllib.error.URLError, TimeoutError, ConnectionError,
                          http.client.HTTPException))


def download_file(resource: Resource, mirrors, dest_dir, *, label: str = "dataset",
                  retries: int | None = None, backoff: float | None = None,
                  timeout: float | None = None, quiet: bool = False) -> Path:
    """Download ``resource`` into ``dest_dir`` from the first mirror that serves it intact.

    Each mirror gets up to ``retries`` attempts for transient failures (network errors,
    timeouts, HTTP 5xx/408/429, short reads), sleeping ``backoff * 2**k`` between them;
    an HTTP 4xx or a checksum mismatch moves on to the next mirror at once.
    """
    retries = RETRIES if retries is None else max(1, int(retries))
    backoff = BACKOFF if backoff is None else float(backoff)
    timeout = TIMEOUT if timeout is None else float(timeout)
    dest_dir = Path(dest_dir)
    dest = dest_dir / resource.filename
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"nerve.datasets.{label}: can't create {dest_dir}: {e}") from None
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(resource.filename) else \
            mirror.rstrip("/") + "/" + resource.filename
        for attempt in range(retries):
            if not quiet:
                print(f"nerve.datasets.{label}: downloading {url}", file=sys.stderr)
            try:
                _get(url, dest, resource, timeout, show=not quiet)
                return dest
            except DatasetError as e:  # wrong bytes: this mirror won't do better
                failures.append(f"{url}: {e}")
                break
            except Exception as e:  # noqa: BLE001  (classified below)
                failures.append(f"{url}: {type(e).__name__}: {e}")
                if not _is_transient(e) or attempt + 1 == retries:
                    break
                time.sleep(backoff * 2 ** attempt)
    tried = "\n  ".join(failures) or "(no mirrors)"
    raise DownloadError(
        f"nerve.datasets.{label}: could not download {resource.filename}:\n  {tried}\n"
        f"To work offline, put {resource.filename} (gzipped or not) in {dest_dir}, or set "
        f"NERVE_DATA to a directory holding a {label}/ folder with the files.")


def fetch(label: str, resources, mirrors, dirs, download_dir, download: bool = True,
          quiet: bool = False) -> dict[str, Path]:
    """Local paths of all ``resources``: found in ``dirs`` (all in one directory), or
    downloaded into ``download_dir`` (only the missing ones) when ``download``."""
    names = [r.filename for r in resources]
    found = locate(names, dirs)
    if found is not None:
        return found
    if not download:
        raise DatasetNotFoundError(
            f"nerve.datasets.{label}: files not found and download is off; "
            + where_message(label, names, dirs))
    out = {}
    for r in resources:
        p = find_file(download_dir, r.filename)
        out[r.filename] = p if p is not None else download_file(
            r, mirrors, download_dir, label=label, quiet=quiet)
    return out


# --- archives ------------------------------------------------------------------------------

def _safe_name(name: str) -> str | None:
    """The normalised relative POSIX name, or None if it is absolute or escapes."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or ":" in name.split("/")[0]:
        return None
    norm = posixpath.normpath(name)
    if norm == "." or norm.startswith("../") or norm == ".." or "/../" in f"/{norm}/":
        return None
    return norm


def _check_member(tar_path, m: tarfile.TarInfo, max_bytes: int | None) -> str:
    name = _safe_name(m.name)
    if name is None:
        raise DatasetError(f"{tar_path}: unsafe member name {m.name!r} in archive "
                           "(absolute or outside the target directory)")
    if not m.isreg():
        raise DatasetError(f"{tar_path}: member {m.name!r} is not a regular file "
                           "(links and devices are refused)")
    if max_bytes is not None and m.size > max_bytes:
        raise DatasetError(f"{tar_path}: member {m.name!r} is {m.size} bytes, more than "
                           f"the {max_bytes} expected")
    return name


def _members(tar_path, wanted, max_bytes):
    """Yield (name, TarInfo, tarfile) for wanted members (all if None), checked."""
    wanted = None if wanted is None else {posixpath.normpath(w) for w in wanted}
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            chosen = {}  # every header is checked before a single byte is taken
            for m in tar.getmembers():
                if wanted is not None and posixpath.normpath(m.name) not in wanted:
                    continue
                if m.isdir() and wanted is None:
                    if _safe_name(m.name) is None:
                        _check_member(tar_path, m, max_bytes)
                    continue
                name = _check_member(tar_path, m, max_bytes)
                if name in chosen:
                    raise DatasetError(f"{tar_path}: member {name!r} appears twice")
                chosen[name] = m
            if wanted is not None and wanted - set(chosen):
                raise DatasetError(f"{tar_path}: archive lacks {sorted(wanted - set(chosen))}")
            for name, m in chosen.items():
                yield name, m, tar
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DatasetError(f"{tar_path}: corrupt or truncated archive ({e})") from None


def _read_member(tar_path, tar, m, name) -> bytes:
    try:
        f = tar.extractfile(m)
        data = f.read() if f is not None else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DatasetError(f"{tar_path}: corrupt or truncated archive at {name!r} ({e})") from None
    if len(data) != m.size:
        raise DatasetError(f"{tar_path}: member {name!r} truncated ({len(data)} of {m.size} "
                           "bytes)")
    return data


def read_tar_members(tar_path, wanted, max_bytes: int | None = None) -> dict[str, bytes]:
    """The bytes of the ``wanted`` members of a (compressed) tar, in memory, nothing
    written to disk. Refuses links, devices, duplicates, unsafe names; all must exist."""
    return {name: _read_member(tar_path, tar, m, name)
            for name, m, tar in _members(tar_path, wanted, max_bytes)}


def safe_extract(tar_path, dest_dir, members=None, max_bytes: int | None = None) -> list[Path]:
    """Extract regular-file members (``members``: names to take; None: all) under
    ``dest_dir``, each written atomically. Any unsafe member taken aborts the extraction."""
    dest = Path(dest_dir).resolve()
    out = []
    for name, m, tar in _members(tar_path, members, max_bytes):
        target = (dest / name).resolve()
        if dest != target and dest not in target.parents:
            raise DatasetError(f"{tar_path}: member {m.name!r} would land outside {dest}")
        data = _read_member(tar_path, tar, m, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        out.append(target)
    return out
