"""Uploaded images as files under the store, named by the SHA-256 of what is kept.

Every upload is checked and de-identified before it is kept: a NIfTI loses its free-text header
fields and extensions, a DICOM series (a zip of the folder) is unpacked with traversal, link and
bomb checks and every file passes the basic confidentiality profile
(:func:`spinefuse.imaging.deidentify.deidentify`), an X-ray landmark file keeps only the header
keys the reader uses. The kept file's hash is its name, so the same image uploaded twice is
stored once and a run's inputs can be traced to their bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from spinefuse.errors import SpinefuseError

FileKind = Literal["nifti", "label_map", "dicom_zip", "xray_landmarks"]
SUFFIX: dict[str, str] = {
    "nifti": ".nii.gz",
    "label_map": ".nii.gz",
    "dicom_zip": ".dicom",
    "xray_landmarks": ".csv",
}
LANDMARK_KEYS = ("view", "pixel_spacing_mm", "image_size", "role")


class UploadError(SpinefuseError, ValueError):
    """An upload is refused: too large, not the kind it claims, or an unsafe archive."""


@dataclass(frozen=True)
class UploadLimits:
    """Upload limits in bytes (and members for archives)."""

    max_upload: int = 512 * 1024**2
    max_unpacked: int = 2 * 1024**3
    max_members: int = 20_000
    max_ratio: float = 200.0


class FileStore:
    """Content-addressed files under ``root/objects`` (``ab/abcd….nii.gz``; a DICOM series is
    a folder ``ab/abcd….dicom/``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str, kind: str) -> Path:
        """Where the file (or series folder) with this hash and kind lies."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise UploadError(f"{sha256!r} is not a SHA-256 hex digest")
        return self.root / "objects" / sha256[:2] / f"{sha256}{SUFFIX[kind]}"

    def put_file(self, data: bytes, kind: str) -> tuple[str, int]:
        """Keep ``data`` (already cleaned) under its hash; returns (sha256, size)."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha, kind)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".up-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        return sha, len(data)

    def put_series(self, files: list[bytes]) -> tuple[str, int]:
        """Keep a de-identified DICOM series as a folder named by the hash of its files."""
        h = hashlib.sha256()
        for data in files:
            h.update(hashlib.sha256(data).digest())
        sha = h.hexdigest()
        target = self.path(sha, "dicom_zip")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".up-"))
            for n, data in enumerate(files, start=1):
                (tmp / f"IM{n:05d}.dcm").write_bytes(data)
            try:
                os.replace(tmp, target)
            except OSError:  # another upload of the same series won the race
                shutil.rmtree(tmp, ignore_errors=True)
        return sha, sum(len(d) for d in files)

    def ingest(self, data: bytes, kind: FileKind, limits: UploadLimits) -> tuple[str, int]:
        """Check, de-identify and keep an upload of ``kind``; returns (sha256, size kept)."""
        if len(data) > limits.max_upload:
            raise UploadError(
                f"upload of {len(data)} bytes is over the {limits.max_upload} byte limit"
            )
        if kind in ("nifti", "label_map"):
            return self.put_file(clean_nifti(data, kind), kind)
        if kind == "xray_landmarks":
            return self.put_file(clean_landmarks(data), kind)
        if kind == "dicom_zip":
            return self.put_series(dicom_series_from_zip(data, limits))
        raise UploadError(f"kind {kind!r}: use one of {', '.join(SUFFIX)}")


def clean_nifti(data: bytes, kind: str) -> bytes:
    """A NIfTI (gzipped or not) with its free-text fields (descrip, aux_file, intent_name,
    db_name) emptied and its extensions removed; pixels, affine and scaling kept as stored.
    Returned gzipped, as it will be named."""
    import gzip

    import nibabel as nib

    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    try:
        img = nib.Nifti1Image.from_bytes(raw)
    except Exception:
        try:
            img = nib.Nifti2Image.from_bytes(raw)
        except Exception:
            raise UploadError(
                f"the {kind.replace('_', ' ')} is not a readable NIfTI-1/2 file (.nii or .nii.gz)"
            ) from None
    hdr = img.header
    dirty = bool(hdr.extensions) or any(
        bytes(hdr[f].tobytes()).strip(b"\x00 ") for f in ("descrip", "aux_file", "intent_name")
    )
    if not dirty:
        return data if data[:2] == b"\x1f\x8b" else gzip.compress(raw, mtime=0)
    hdr.extensions.clear()
    for f in ("descrip", "aux_file", "intent_name"):
        hdr[f] = b""
    clean = type(img)(img.dataobj.get_unscaled(), img.affine, hdr)
    clean.header.set_slope_inter(*img.header.get_slope_inter())
    return gzip.compress(clean.to_bytes(), mtime=0)


def clean_landmarks(data: bytes) -> bytes:
    """An X-ray landmark CSV keeping only the header keys the reader uses (a free-text comment
    could name the patient); checked by the reader."""
    from spinefuse.imaging.xray_landmarks import MAGIC, read_xray_landmarks

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadError("the X-ray landmark file is not UTF-8 text") from None
    kept = [f"# {MAGIC}"]
    for line in text.splitlines():
        if line.startswith("#"):
            body = line[1:].strip()
            if ":" in body and body.split(":", 1)[0].strip() in LANDMARK_KEYS:
                kept.append(f"# {body}")
        elif line.strip():
            kept.append(line)
    out = ("\n".join(kept) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "landmarks.csv"
        p.write_bytes(out)
        try:
            read_xray_landmarks(p)
        except SpinefuseError as err:
            raise UploadError(str(err).replace(str(p), "the X-ray landmark file")) from None
    return out


def safe_members(archive: zipfile.ZipFile, limits: UploadLimits) -> list[zipfile.ZipInfo]:
    """The archive's file members, refusing traversal (absolute or ``..`` paths), links,
    too many members, and a bomb (total or ratio of unpacked to packed size over the limits)."""
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise UploadError(f"the zip holds {len(members)} entries, over {limits.max_members}")
    total = 0
    files = []
    for m in members:
        name = PurePosixPath(m.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or ":" in m.filename:
            raise UploadError("the zip holds a path outside its folder (absolute or '..'): refused")
        mode = m.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UploadError("the zip holds a symbolic link: refused")
        if m.is_dir():
            continue
        total += m.file_size
        if total > limits.max_unpacked:
            raise UploadError(
                f"the zip unpacks to over {limits.max_unpacked} bytes: refused as a zip bomb"
            )
        if m.compress_size and m.file_size / m.compress_size > limits.max_ratio:
            raise UploadError(
                f"a zip entry unpacks {m.file_size / m.compress_size:.0f}× its packed size "
                f"(over {limits.max_ratio:g}×): refused as a zip bomb"
            )
        files.append(m)
    return files


def dicom_series_from_zip(data: bytes, limits: UploadLimits) -> list[bytes]:
    """The DICOM files of a zipped series folder, each de-identified (basic profile), in a
    stable order (by the instance's position in the archive's sorted names). Non-DICOM entries
    are skipped; an archive without DICOM is refused."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    from spinefuse.imaging.deidentify import deidentify

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UploadError("the DICOM upload is not a zip archive of the series folder") from None
    out: list[bytes] = []
    with archive:
        for m in sorted(safe_members(archive, limits), key=lambda m: m.filename):
            with archive.open(m) as fh:
                blob = fh.read(limits.max_unpacked + 1)
            if len(blob) != m.file_size:  # a header that lies about the size
                raise UploadError("a zip entry's size differs from its header: refused")
            try:
                ds = dcmread(io.BytesIO(blob))
            except (InvalidDicomError, Exception):
                continue
            if "PixelData" not in ds:
                continue
            deidentify(ds)
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            out.append(buf.getvalue())
    if not out:
        raise UploadError("the zip holds no DICOM image files")
    return out
