"""Public data sets, fetched on demand and checked by checksum.

The registry (``public/registry.toml``) pins each data set to a public address at a fixed
commit and its sha256; the data themselves are never shipped with the toolkit. Beside each
entry lie the map that imports it (:mod:`cheaptalk.data.importing`) and the game it was
played in, so ``cheaptalk compare --dataset NAME`` runs end to end.

Downloads go through :mod:`pooch` (the standard cached, checksummed downloader of the
scientific Python stack) into ``$CHEAPTALK_DATA_DIR`` or the user's cache folder.
``CHEAPTALK_DATA_MIRROR=DIR`` reads ``DIR/NAME/FILE`` instead of the network (the checksum is
still checked): this is how an offline machine, or a test, uses a local copy.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import DatasetError  # noqa: F401 (defined there, raised here)

__all__ = ["DatasetError", "Dataset", "list_datasets", "get_dataset", "fetch_dataset", "load_dataset",
           "dataset_trust_logs"]


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    citation: str
    licence: str
    source: str
    url: str = ""
    file: str = ""
    sha256: str = ""
    map: str = ""
    game: str = ""
    description: str = ""
    rows: int | None = None
    subjects: int | None = None
    kind: str = "decisions"    # "decisions" (long format, by its map) or "advice-taking" (trials of learning,
                               # whose map writes trust logs)
    folder: str = ""           # the mirror's folder, when it is not the entry's name
    files: tuple = ()          # several parts: ({name, file, sha256, url, rows, subjects}, ...)

    def part(self, name: str | None) -> dict:
        """One file of the entry: ``name`` among ``files`` (``NAME:PART``), or its only file."""
        if not self.files:
            if name:
                raise DatasetError(f"data set {self.name!r} has one file; no part {name!r}")
            return {"name": "", "file": self.file, "sha256": self.sha256, "url": self.url}
        parts = {p["name"]: p for p in self.files}
        if name not in parts:
            raise DatasetError(f"data set {self.name!r} has parts {', '.join(parts)}: give {self.name}:PART"
                               + (f" (not {name!r})" if name else ""))
        return parts[name]

    def resource(self, filename: str) -> Path:
        """A file bundled with the entry (its map or game file)."""
        return Path(str(resources.files("cheaptalk.datasets").joinpath("public", self.name, filename)))

    @property
    def map_path(self) -> Path:
        return self.resource(self.map)

    @property
    def game_path(self) -> Path:
        return self.resource(self.game)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items()}
        out["files"] = [dict(p) for p in self.files]
        return out | {"map_path": str(self.map_path) if self.map else None,
                      "game_path": str(self.game_path) if self.game else None}


def _registry() -> dict:
    text = resources.files("cheaptalk.datasets").joinpath("public", "registry.toml").read_text()
    return tomllib.loads(text)


def list_datasets() -> list[Dataset]:
    return [get_dataset(name) for name in _registry()]


def get_dataset(name: str) -> Dataset:
    entries = _registry()
    if name not in entries:
        raise DatasetError(f"unknown data set {name!r}; known: {', '.join(entries) or 'none'} "
                           f"(see `cheaptalk datasets list`)")
    fields = set(Dataset.__dataclass_fields__)
    values = {k: v for k, v in entries[name].items() if k in fields}
    values["files"] = tuple(values.get("files", ()))
    return Dataset(name=name, **values)


def cache_dir() -> Path:
    """Where downloads are kept: ``$CHEAPTALK_DATA_DIR`` or the user's cache folder."""
    given = os.environ.get("CHEAPTALK_DATA_DIR", "").strip()
    if given:
        return Path(given)
    import pooch
    return Path(pooch.os_cache("cheaptalk")) / "datasets"


def _usable_cache(folder: Path) -> Path:
    """The cache folder, made if needed; a path that cannot be a folder is the setting's
    fault, not the download's, and is named as such."""
    given = "CHEAPTALK_DATA_DIR" if os.environ.get("CHEAPTALK_DATA_DIR", "").strip() else "the cache folder"
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise DatasetError(f"{given} {folder}: {parent} is a file, not a folder; set CHEAPTALK_DATA_DIR "
                                   f"to a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{given} {folder}: cannot be made ({exc.strerror or exc}); set CHEAPTALK_DATA_DIR "
                           f"to a folder you can write") from None
    return folder


def _sha256(path: Path) -> str:
    import pooch
    return pooch.file_hash(str(path), alg="sha256")


def fetch_dataset(name: str) -> Path:
    """The local path of data set ``name`` (``NAME:PART`` for one file of an entry with several):
    from the mirror if ``CHEAPTALK_DATA_MIRROR`` is set, else from the cache, downloading it
    first if needed; always checked by sha256."""
    name, _, part_name = name.partition(":")
    ds = get_dataset(name)
    part = ds.part(part_name or None)
    folder = ds.folder or name
    mirror = os.environ.get("CHEAPTALK_DATA_MIRROR", "").strip()
    if mirror:
        path = Path(mirror) / folder / part["file"]
        if not path.is_file():
            raise DatasetError(f"data set {name!r}: the mirror {mirror} has no file {folder}/{part['file']} "
                               f"(CHEAPTALK_DATA_MIRROR reads DIR/{folder}/FILE)")
        digest = _sha256(path)
        if digest != part["sha256"]:
            raise DatasetError(f"data set {name!r}: {path} has sha256 {digest}, expected {part['sha256']}; "
                               f"the file is not the pinned version")
        return path
    import pooch
    target = _usable_cache(cache_dir()) / name
    try:
        return Path(pooch.retrieve(part["url"], known_hash=f"sha256:{part['sha256']}", fname=part["file"],
                                   path=target, progressbar=False))
    except ValueError as exc:           # pooch's checksum mismatch
        raise DatasetError(f"data set {name!r}: the download from {part['url']} does not match its sha256: "
                           f"{exc}") from None
    except Exception as exc:            # network errors come in many classes (requests, OSError)
        raise DatasetError(f"data set {name!r}: cannot download {part['url']}: {type(exc).__name__}: {exc}. "
                           f"With a local copy, set CHEAPTALK_DATA_MIRROR=DIR to read "
                           f"DIR/{folder}/{part['file']}") from None


def load_dataset(name: str):
    """``(decisions, import report, game)`` of a public data set: fetched, imported with its
    bundled map, and its bundled game file loaded."""
    from ..data.importing import import_table, load_map, read_source
    from ..games import load_game

    ds = get_dataset(name.partition(":")[0])
    if ds.kind != "decisions":
        raise DatasetError(f"data set {ds.name!r} holds {ds.kind} trials, not decisions of a game: use it with "
                           f"`cheaptalk trust compare --per-subject --dataset {ds.name}:PART`")
    path = fetch_dataset(name)
    spec = load_map(ds.map_path)
    frame, report = import_table(read_source(path, spec.fmt, spec.sheet), spec, source=str(path))
    frame.attrs["source"] = str(path)
    return frame, report, load_game(ds.game_path)


def dataset_trust_logs(name: str) -> Path:
    """The trust logs of data set ``NAME:PART`` (a data set whose map writes trust logs):
    fetched, imported with its bundled map once, and kept in the cache beside the download
    (``$CHEAPTALK_DATA_DIR/NAME/PART-trust-logs-SHA``)."""
    import shutil
    import tempfile

    from ..data.importing import load_map, read_source
    from ..data.trust_logs import import_trust_logs, write_trust_logs

    base, _, part_name = name.partition(":")
    ds = get_dataset(base)
    if not ds.map:
        raise DatasetError(f"data set {ds.name!r} has no map")
    spec = load_map(ds.map_path)
    if spec.output != "trust-logs":
        raise DatasetError(f"data set {ds.name!r} holds decisions of a game, not repeated play: use it with "
                           f"`cheaptalk compare --dataset {ds.name}`")
    part = ds.part(part_name or None)
    target = _usable_cache(cache_dir()) / ds.name / f"{part['name'] or ds.name}-trust-logs-{part['sha256'][:12]}"
    if (target / "schema.json").is_file():
        return target
    path = fetch_dataset(name)
    events, sellers, report = import_trust_logs(read_source(path, spec.fmt, spec.sheet), spec, source=str(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    # written beside the target and renamed: a reader never sees half a folder
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".import-"))
    try:
        write_trust_logs(events, sellers, scratch / "logs", meta={"source": f"dataset {name}",
                                                                  "import": report.to_dict()})
        try:
            (scratch / "logs").rename(target)
        except OSError:
            if not (target / "schema.json").is_file():     # (another process may have won the race)
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
