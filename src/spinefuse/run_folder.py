"""A run folder: the records of one pipeline run of one case, and the manifest that ties them.

``manifest.json`` is written first and completed last: the case id, the seed, the spinefuse
version, a SHA-256 of the case and of every input file, and each stage's status (pending, done,
skipped with its reason). A folder belongs to one case: a run into a folder holding another
case's run is refused, a rerun of the same case first removes the records of the earlier run, a
run never writes over its own inputs, and :func:`load_run` refuses records whose case or input
files have changed since. An interrupted run leaves ``finished: false``, which the index page
and the reports say.
"""

from __future__ import annotations

import hashlib
import html
import shutil
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError

from spinefuse.case import Case
from spinefuse.errors import SpinefuseError
from spinefuse.records import Record, check_output_folder, describe_validation_error, write_atomic

if TYPE_CHECKING:
    from spinefuse.pipeline import CaseResult, Skip

MANIFEST = "manifest.json"
RUN_SCHEMA = "spinefuse/run@1"
REPORT_FILES = ("report.html", "report.pdf", "patient.html", "patient.pdf")
RECORD_FILES = tuple(
    f"{s}.json" for s in ("anatomy", "assessment", "plan", "mechanics", "healing", "forecast")
)


class RunFolderError(SpinefuseError, ValueError):
    """A run folder cannot be used or read (names the folder or file and what to do)."""


class StageStatus(Record):
    """What one stage did in this run."""

    name: str
    status: Literal["pending", "done", "skipped"] = "pending"
    code: str = ""
    reason: str = ""


class RunManifest(Record):
    """The manifest of a run folder (``manifest.json``)."""

    schema_: Literal["spinefuse/run@1"] = Field(default="spinefuse/run@1", alias="schema")
    case_id: str
    seed: int
    spinefuse_version: str
    case_sha256: str
    inputs: dict[str, str] = Field(description="input file path -> SHA-256 of its bytes")
    stages: list[StageStatus]
    written: list[str] = Field(default_factory=list, description="files this run wrote")
    finished: bool = False

    model_config = Record.model_config | {"populate_by_name": True, "serialize_by_alias": True}

    def status(self, stage: str) -> StageStatus | None:
        """The status of ``stage`` (None when this run did not include it)."""
        return next((s for s in self.stages if s.name == stage), None)


def spinefuse_version() -> str:
    """The installed spinefuse's version."""
    try:
        return version("spinefuse")
    except PackageNotFoundError:
        return "(development)"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_files(case: Case) -> list[Path]:
    """Every file the case's imaging studies name (a DICOM folder's files, sorted)."""
    files: list[Path] = []
    for study in case.imaging:
        for path in study.paths().values():
            p = Path(path)
            files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return files


def input_hashes(case: Case, extra: Iterable[Path] = ()) -> dict[str, str]:
    """SHA-256 of every input file of the case (and of ``extra`` files such as the case file)."""
    return {str(p): _sha256(p) for p in [*extra, *input_files(case)] if p.is_file()}


def case_hash(case: Case) -> str:
    """SHA-256 of the case record as JSON (what the run read, paths resolved)."""
    return hashlib.sha256(case.to_json(indent=None).encode()).hexdigest()


def stage_file(stage: str) -> str:
    """The record file of a stage in a run folder."""
    return f"{stage}.json"


class RunFolder:
    """The folder one run writes into, with its manifest kept up to date."""

    def __init__(self, path: Path, manifest: RunManifest) -> None:
        self.path, self.manifest = path, manifest

    @classmethod
    def start(
        cls, path: Path, case: Case, seed: int, stages: list[str], inputs: Iterable[Path] = ()
    ) -> RunFolder:
        """Claim ``path`` for a run of ``case``: refuse a folder holding another case's run or
        one of the run's own inputs, remove an earlier run's records, write the manifest."""
        path = Path(path)
        inputs = list(inputs)
        _refuse_inputs_inside(path, case, inputs)
        old = _existing_manifest(path)
        if old is not None:
            if old.case_id != case.id:
                raise RunFolderError(
                    f"{path} holds the run of case {old.case_id!r}, not {case.id!r}: a run "
                    "folder belongs to one case; choose another --out folder or remove that one"
                )
            _remove(path, old.written)
        elif any((path / name).exists() for name in (*RECORD_FILES, "case.json")):
            raise RunFolderError(
                f"{path} holds stage records without a {MANIFEST}: they may be another case's; "
                "choose an empty --out folder or remove them"
            )
        check_output_folder(path)
        manifest = RunManifest(
            case_id=case.id,
            seed=seed,
            spinefuse_version=spinefuse_version(),
            case_sha256=case_hash(case),
            inputs=input_hashes(case, inputs),
            stages=[StageStatus(name=s) for s in stages],
        )
        folder = cls(path, manifest)
        folder._note("index.html")
        folder._save()
        folder._write("case.json", case.to_json())
        write_index(path, folder.manifest, case.id)
        return folder

    def _write(self, name: str, text: str | bytes) -> Path:
        try:
            out = write_atomic(self.path / name, text)
        except OSError as err:
            raise RunFolderError(f"{self.path / name}: cannot be written ({err})") from None
        if name not in self.manifest.written:
            self.manifest = self.manifest.model_copy(
                update={"written": [*self.manifest.written, name]}
            )
        return out

    def _save(self) -> None:
        try:
            write_atomic(self.path / MANIFEST, self.manifest.to_json())
        except OSError as err:
            raise RunFolderError(f"{self.path / MANIFEST}: cannot be written ({err})") from None

    def write_record(self, stage: str, record: Any) -> None:
        """Write a stage's record as ``<stage>.json`` (the plan's implants also as STL)."""
        self._write(stage_file(stage), record.to_json())
        if stage == "plan":
            from spinefuse.plan import write_implant_meshes

            for p in write_implant_meshes(record, self.path / "implants"):
                self._note(str(p.relative_to(self.path)))

    def _note(self, name: str) -> None:
        if name not in self.manifest.written:
            self.manifest = self.manifest.model_copy(
                update={"written": [*self.manifest.written, name]}
            )

    def note_files(self, paths: Iterable[Path]) -> None:
        """Record files a stage wrote itself (the reports) as this run's."""
        for p in paths:
            self._note(str(Path(p).relative_to(self.path)))

    def stage_done(self, stage: str, skip: Skip | None) -> None:
        """Mark ``stage`` done (or skipped, with why) in the manifest."""
        stages = [
            s.model_copy(
                update={"status": "skipped", "code": skip.code, "reason": skip.text}
                if skip is not None
                else {"status": "done"}
            )
            if s.name == stage
            else s
            for s in self.manifest.stages
        ]
        self.manifest = self.manifest.model_copy(update={"stages": stages})
        self._save()

    def finish(self, result: CaseResult) -> None:
        """Write the index page and mark the run finished."""
        self.manifest = self.manifest.model_copy(update={"finished": True})
        write_index(self.path, self.manifest, result.case.id)
        self._save()


def _refuse_inputs_inside(path: Path, case: Case, inputs: list[Path]) -> None:
    """A run never writes over its own inputs: refuse when a file it writes is one of them."""
    ours = {"case.json", MANIFEST, "index.html", *REPORT_FILES, *RECORD_FILES}
    out = path.resolve()
    for p in [*inputs, *input_files(case)]:
        rp = Path(p).resolve()
        if rp.parent == out and rp.name in ours or rp.is_relative_to(out / "implants"):
            raise RunFolderError(
                f"--out {path}: the run would write over its input {p}; choose another folder"
            )


def _existing_manifest(path: Path) -> RunManifest | None:
    file = path / MANIFEST
    if not file.is_file():
        return None
    return read_manifest(path)


def read_manifest(path: Path) -> RunManifest:
    """The manifest of a run folder (a RunFolderError when it is missing or unreadable)."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise RunFolderError(
            f"{path}: no {MANIFEST}; give a folder written by 'spinefuse run' (this version)"
        )
    try:
        return RunManifest.model_validate_json(file.read_bytes())
    except ValidationError as err:
        raise RunFolderError(describe_validation_error(err, str(file), "run manifest")) from None


def _remove(path: Path, written: list[str]) -> None:
    """Remove the files an earlier run of this case wrote (only those the manifest lists)."""
    for name in written:
        target = path / name
        if target.is_file():
            target.unlink()
    implants = path / "implants"
    if implants.is_dir() and not any(implants.iterdir()):
        shutil.rmtree(implants)


def load_run(run_dir: Path) -> CaseResult:
    """The run in ``run_dir`` read back: its case and every record validated into its type,
    with the images read again from the case's files (checked unchanged since the run)."""
    from spinefuse.pipeline import CaseResult, Skip
    from spinefuse.stages import STAGES

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(
            f"{run_dir}: no such run folder; give the folder 'spinefuse run' wrote"
        )
    manifest = read_manifest(run_dir)
    case = _read_record(run_dir / "case.json", Case)
    if case_hash(case) != manifest.case_sha256 or case.id != manifest.case_id:
        raise RunFolderError(
            f"{run_dir / 'case.json'}: differs from the case this run was made for "
            f"({manifest.case_id}); run the case again"
        )
    changed = [
        p for p, h in manifest.inputs.items() if not Path(p).is_file() or _sha256(Path(p)) != h
    ]
    if changed:
        raise RunFolderError(
            f"{run_dir}: input files changed or missing since the run ({', '.join(changed[:3])}"
            f"{' …' if len(changed) > 3 else ''}); run the case again"
        )
    result = CaseResult(case=case, seed=manifest.seed, out_dir=run_dir)
    for st in STAGES:
        status = manifest.status(st.name)
        if status is None:
            continue
        if status.status == "skipped":
            result.skipped[st.name] = Skip(status.code, status.reason)
        elif status.status == "done" and st.record is not None:
            record = _read_record(run_dir / stage_file(st.name), st.record())
            setattr(result, st.field, record)
            result.ran.append(st.name)
    if manifest.status("imaging") is not None:
        from spinefuse.imaging.images import read_images

        result.images = read_images(case)
    result.finished = manifest.finished
    return result


def _read_record(path: Path, kind: type[Record]) -> Any:
    if not path.is_file():
        raise RunFolderError(f"{path}: missing; the manifest lists it as written: run again")
    try:
        return kind.model_validate_json(path.read_bytes())
    except ValidationError as err:
        raise RunFolderError(
            describe_validation_error(err, str(path), kind.__name__)
            + "\nre-run the case with this version of spinefuse"
        ) from None


def write_index(path: Path, manifest: RunManifest, case_id: str) -> Path:
    """The run folder's front page: the reports first, then each stage's record in stage order
    with what it holds or why it was skipped, then the other files (implant meshes)."""
    from spinefuse.stages import STAGES

    def link(name: str, text: str) -> str:
        return f'<a href="{html.escape(name)}">{html.escape(text)}</a>'

    reports = [
        (n, t)
        for n, t in zip(
            REPORT_FILES,
            (
                "surgeon's report",
                "surgeon's report (PDF)",
                "patient's report",
                "patient's report (PDF)",
            ),
            strict=True,
        )
        if (path / n).exists()
    ]
    rows = [f"<tr><td>{link('case.json', 'case.json')}</td><td>the case as read</td></tr>"]
    skipped = []
    for st in STAGES:
        status = manifest.status(st.name)
        if status is None:
            continue
        if status.status == "skipped":
            skipped.append(f"<li>{html.escape(st.describe)}: {html.escape(status.reason)}</li>")
        elif st.record is not None and status.status == "done":
            name = stage_file(st.name)
            rows.append(f"<tr><td>{link(name, name)}</td><td>{html.escape(st.describe)}</td></tr>")
    listed = {"index.html", "case.json", MANIFEST, *(n for n, _ in reports)}
    listed |= {stage_file(st.name) for st in STAGES}
    others = sorted(n for n in manifest.written if n not in listed)
    unfinished = (
        ""
        if manifest.finished
        else '<p class="warn">This run did not finish: its records are incomplete.</p>'
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>spinefuse: {html.escape(case_id)}</title>
<style>body{{font-family:sans-serif;max-width:860px;margin:2em auto;color:#222}}
td{{padding:3px 12px 3px 0}} h1{{color:#1d4e79}} .note{{color:#666}}
.warn{{color:#fff;background:#b03a2e;padding:6px 10px}}</style></head><body>
<h1>spinefuse run: {html.escape(case_id)}</h1>{unfinished}
<h2>Reports</h2><ul>{"".join(f"<li>{link(n, t)}</li>" for n, t in reports) or "<li>none</li>"}</ul>
<h2>Stage records (JSON)</h2><table>{"".join(rows)}</table>
<h2>Stages with nothing to do for this case</h2><ul>{"".join(skipped) or "<li>none</li>"}</ul>
<p class="note">{link(MANIFEST, MANIFEST)}: the run's inputs, their checksums and each stage's
status.</p>
<h2>Other files</h2><ul>{"".join(f"<li>{link(o, o)}</li>" for o in others) or "<li>none</li>"}</ul>
</body></html>"""
    return write_atomic(path / "index.html", page)
