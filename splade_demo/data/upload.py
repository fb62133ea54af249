"""Your own corpus: validate an uploaded CSV or JSONL file of documents and save it as a corpus JSONL.

Each document needs `id` and `text`; `title`, `section`, `source` and `url` are optional (defaults:
title = the text's first words, section = "", source = "upload/<id>", url = ""). Errors name the place:
`row N` in a CSV (row 1 is the first document after the header line), `line N` in a JSONL file.
Caps: MAX_UPLOAD_BYTES, MAX_DOCUMENTS and MAX_TEXT_CHARS. The text is kept exactly as given (a
`<script>` stays the characters `<script>`); the app only ever shows it as text or HTML-escaped.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

from splade_demo.data.corpus import (
    PASSAGE_FIELDS,
    Corpus,
    CorpusError,
    Passage,
    build_corpus,
    json_objects,
    passage_from_record,
)
from splade_demo.files import replace_file

Format = Literal["csv", "jsonl"]
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # .streamlit/config.toml: maxUploadSize = 5 (MB)
MAX_DOCUMENTS = 2_000
MAX_TEXT_CHARS = 20_000
MAX_FIELD_CHARS = 1_000  # id, title, section, source, url
TITLE_WORDS = 8
TITLE_CHARS = 80
REQUIRED = ("id", "text")
OPTIONAL = ("title", "section", "source", "url")
UPLOAD_SUBDIR = "uploads"
MAX_KEPT_UPLOADS = 20  # older uploaded corpora are deleted when a new one is saved (a shared server's disk)


@dataclass(frozen=True)
class UploadPolicy:
    """Caps for a shared server (SPLADE_DEMO_PUBLIC=1): bytes per session, bytes on disk, hours kept."""

    session_bytes: int = 20 * 1024 * 1024
    total_bytes: int = 50 * 1024 * 1024
    max_age_s: float = 3 * 3600.0


PUBLIC_POLICY = UploadPolicy()


class UploadError(CorpusError):
    """An uploaded corpus that cannot be used; the message names the row or line."""


def parse_upload(filename: str, data: bytes) -> Corpus:
    """Validate an uploaded file (CSV or JSONL, chosen by extension or content) into a Corpus."""
    if len(data) > MAX_UPLOAD_BYTES:
        size = math.ceil(len(data) * 10 / 2**20) / 10  # rounded up: never "5.0 MB; the limit is 5 MB"
        raise UploadError(f"the file is {size:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    text = decode(data)
    if not text.strip():
        raise UploadError("the file is empty")
    if "\x00" in text:
        raise UploadError(f"line {text[: text.index(chr(0))].count(chr(10)) + 1}: a NUL byte; is this a binary file?")
    fmt = detect_format(filename, text)
    rows = _csv_rows(text) if fmt == "csv" else _jsonl_rows(text)
    passages: list[Passage] = []
    where: list[str] = []
    for place, raw in rows:
        if len(passages) == MAX_DOCUMENTS:
            raise UploadError(f"{place}: too many documents; the limit is {MAX_DOCUMENTS:,}")
        passages.append(passage_from_record(normalise(raw, place), place))
        where.append(place)
    if not passages:
        raise UploadError("the file has a header but no documents" if fmt == "csv" else "the file has no documents")
    try:
        return build_corpus("upload", passages, where)
    except UploadError:
        raise
    except CorpusError as exc:  # a duplicate id, naming both rows
        raise UploadError(str(exc)) from None


def decode(data: bytes) -> str:
    """UTF-8 text (a byte-order mark is dropped); anything else names the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UploadError(f"line {line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                          "save it as UTF-8 and upload it again") from None


def detect_format(filename: str, text: str) -> Format:
    """By extension (.csv, .jsonl/.ndjson/.json); otherwise JSONL if the text starts with `{`."""
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _csv_rows(text: str) -> Iterator[tuple[str, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise UploadError(f"the CSV header cannot be read ({exc})") from None
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        found = ", ".join(repr(c[:40]) for c in columns[:10]) or "nothing"
        raise UploadError(f"the CSV header must name the columns id and text; "
                          f"missing {', '.join(missing)} (found {found})")
    duplicated = sorted({c for c in columns if c and columns.count(c) > 1 and c in REQUIRED + OPTIONAL})
    if duplicated:
        raise UploadError(f"the CSV header names {', '.join(duplicated)} more than once")
    number = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UploadError(f"row {number + 1}: not valid CSV ({exc})") from None
        if not values:  # a blank line
            continue
        number += 1
        yield f"row {number}", {name: value for name, value in zip(columns, values) if name}


def _jsonl_rows(text: str) -> Iterator[tuple[str, dict]]:
    for number, record in json_objects(text.split("\n"), lambda n: f"line {n}", UploadError):
        yield f"line {number}", {str(k).strip().lower(): v for k, v in record.items()}


def normalise(raw: dict, place: str) -> dict[str, str]:
    """A corpus record (docs/architecture.md schema) from one uploaded row, with defaults and caps."""
    record: dict[str, str] = {}
    for name in REQUIRED + OPTIONAL:
        value = raw.get(name)
        if isinstance(value, bool) or (value is not None and not isinstance(value, (str, int))):
            raise UploadError(f"{place}: {name} must be text, not {type(value).__name__}")
        record[name] = "" if value is None else str(value)
        try:
            record[name].encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, from a JSON \ud800 escape
            raise UploadError(f"{place}: {name} contains an invalid character (a lone surrogate)") from None
    record["id"] = record["id"].strip()
    if not record["id"]:
        raise UploadError(f"{place}: missing id")
    if not record["text"].strip():
        raise UploadError(f"{place}: missing text")
    if len(record["text"]) > MAX_TEXT_CHARS:
        raise UploadError(f"{place}: text is {len(record['text']):,} characters long; the limit is {MAX_TEXT_CHARS:,}")
    for name in ("id",) + OPTIONAL:
        if len(record[name]) > MAX_FIELD_CHARS:
            raise UploadError(f"{place}: {name} is {len(record[name]):,} characters long; "
                              f"the limit is {MAX_FIELD_CHARS:,}")
    url = record["url"].strip()
    if url and not url.lower().startswith(("https://", "http://")):
        raise UploadError(f"{place}: url must start with https:// or http://")
    record["url"] = url
    record["source"] = record["source"].strip() or f"upload/{record['id']}"
    record["title"] = " ".join(record["title"].split()) or default_title(record["text"])
    return record


def default_title(text: str) -> str:
    """The first TITLE_WORDS words of the text (at most TITLE_CHARS characters), with … if cut."""
    words = text.split()
    title = " ".join(words[:TITLE_WORDS])
    cut = len(words) > TITLE_WORDS or len(title) > TITLE_CHARS
    return (title[: TITLE_CHARS - 1].rstrip() + "…") if len(title) > TITLE_CHARS else title + ("…" if cut else "")


def check_session_quota(used_bytes: int, new_bytes: int, policy: UploadPolicy = PUBLIC_POLICY) -> None:
    """UploadError if a session that has uploaded `used_bytes` may not upload `new_bytes` more (public mode)."""
    if used_bytes + new_bytes > policy.session_bytes:
        raise UploadError(f"this session has used its upload allowance ({policy.session_bytes // 2**20} MB) "
                          "on this shared server; reload the page later or run the app locally")


def save_upload(corpus: Corpus, cache_dir: Path, policy: UploadPolicy | None = None) -> Path:
    """Write the corpus as JSONL to `<cache_dir>/uploads/<content hash>.jsonl` (atomically) and return the path.

    The same documents always land in the same file, so the app's caches (keyed by the path) are reused.
    Only the MAX_KEPT_UPLOADS most recently saved (or re-uploaded) files are kept; with a `policy` (public mode)
    also at most `policy.total_bytes` on disk and none older than `policy.max_age_s`.
    """
    folder = Path(cache_dir) / UPLOAD_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{corpus.content_hash}.jsonl"
    if target.is_file():
        target.touch()  # recently used: kept longest
        return target
    handle, staging = tempfile.mkstemp(prefix=".upload.", suffix=".jsonl", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for passage in corpus.passages:
                record = {name: getattr(passage, name) for name in PASSAGE_FIELDS}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        try:
            replace_file(Path(staging), target)
        except PermissionError:
            if not target.is_file():
                raise
            # Windows: another session saved the same content meanwhile and has it open: theirs is ours.
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    prune_uploads(folder, keep=target, policy=policy)
    return target


def prune_uploads(folder: Path, keep: Path, limit: int = MAX_KEPT_UPLOADS, policy: UploadPolicy | None = None,
                  now: float | None = None) -> None:
    """Delete all but the `limit` newest uploaded corpora in `folder` (never `keep`); with a `policy`, also those
    older than `policy.max_age_s` and the oldest beyond `policy.total_bytes` in all."""
    def stat(path: Path) -> tuple[float, int]:
        try:
            info = path.stat()
            return info.st_mtime, info.st_size
        except OSError:  # deleted meanwhile by another session
            return 0.0, 0

    now = time.time() if now is None else now
    saved = sorted(((p, *stat(p)) for p in folder.glob("*.jsonl")), key=lambda item: item[1], reverse=True)
    total = 0
    kept = 0
    for path, mtime, size in saved:
        if path != keep:
            too_old = policy is not None and now - mtime > policy.max_age_s
            too_big = policy is not None and total + size > policy.total_bytes
            if kept >= max(limit - 1, 0) or too_old or too_big:
                with contextlib.suppress(PermissionError):  # Windows: open in another session; pruned next time
                    path.unlink(missing_ok=True)
                continue
            kept += 1
        total += size
