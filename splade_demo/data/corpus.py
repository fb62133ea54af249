"""The passages and the labelled queries: loading, validation and lookup.

Schemas are in docs/architecture.md ("Contracts > Corpus" and "Labelled queries").
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from splade_demo.config import CORPUS_DIR, QUERIES_PATH

PASSAGE_FIELDS: tuple[str, ...] = ("id", "source", "title", "section", "text", "url")
NAMED_CORPORA: dict[str, str] = {"demo": "demo.jsonl.gz", "full": "full.jsonl.gz"}
QUERY_KINDS: tuple[str, ...] = ("mismatch", "lexical")


class CorpusError(ValueError):
    """A corpus or queries file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Passage:
    """One passage of one documentation page."""

    id: str
    source: str
    title: str
    section: str
    text: str
    url: str


@dataclass(frozen=True)
class LabelledQuery:
    """A query with graded page-level relevance (2 = answers it, 1 = helps)."""

    id: str
    text: str
    rel: dict[str, int]
    kind: str | None = None


@dataclass(frozen=True)
class Corpus:
    """An ordered collection of passages with an index by id."""

    name: str
    passages: tuple[Passage, ...]
    content_hash: str
    _by_id: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.passages)

    def index_of(self, passage_id: str) -> int:
        return self._by_id[passage_id]

    def get(self, passage_id: str) -> Passage:
        return self.passages[self._by_id[passage_id]]

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(p.source for p in self.passages)


def resolve_corpus_path(spec: str) -> Path:
    """`demo`, `full`, or a path to a JSONL(.gz) file."""
    spec = spec.strip()
    if spec in NAMED_CORPORA:
        return CORPUS_DIR / NAMED_CORPORA[spec]
    path = Path(spec).expanduser()
    if not path.is_file():
        raise CorpusError(f"corpus {spec!r} is neither 'demo', 'full' nor an existing file")
    return path


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def json_objects(lines: Iterable[str], place: Callable[[int], str],
                 error: type[Exception] = ValueError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL text; a bad line raises `error` naming
    `place(number)` (a file and line, or an upload's line) and what is wrong."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{place(number)}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(record, dict):
            kind = "an array: one JSON object per line, please (JSONL)" if isinstance(record, list) \
                else type(record).__name__
            raise error(f"{place(number)}: expected a JSON object, found {kind}")
        yield number, record


def _json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; errors name the file and line."""
    try:
        with _open_text(path) as handle:
            yield from json_objects(handle, lambda number: f"{path}:{number}", CorpusError)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise CorpusError(f"{path}: cannot be read ({exc})") from None


def passage_from_record(record: dict, where: str) -> Passage:
    """Validate one corpus record; `where` (file:line or row) prefixes any error."""
    missing = [name for name in PASSAGE_FIELDS if name not in record]
    if missing:
        raise CorpusError(f"{where}: missing field(s) {', '.join(missing)}")
    wrong = [name for name in PASSAGE_FIELDS if not isinstance(record[name], str)]
    if wrong:
        raise CorpusError(f"{where}: field(s) {', '.join(wrong)} must be strings")
    if not record["id"].strip():
        raise CorpusError(f"{where}: empty id")
    return Passage(**{name: record[name] for name in PASSAGE_FIELDS})


def build_corpus(name: str, passages: list[Passage], where: list[str] | None = None) -> Corpus:
    """A Corpus from validated passages; duplicate ids are an error naming both places."""
    by_id: dict[str, int] = {}
    for position, passage in enumerate(passages):
        if passage.id in by_id:
            here = where[position] if where else f"row {position + 1}"
            first = where[by_id[passage.id]] if where else f"row {by_id[passage.id] + 1}"
            raise CorpusError(f"{here}: duplicate id {passage.id!r} (first at {first})")
        by_id[passage.id] = position
    if not passages:
        raise CorpusError(f"corpus {name!r} has no passages")
    digest = hashlib.sha256()
    for passage in passages:
        digest.update(json.dumps([getattr(passage, f) for f in PASSAGE_FIELDS]).encode())
    return Corpus(name=name, passages=tuple(passages), content_hash=digest.hexdigest()[:16], _by_id=by_id)


def load_corpus(spec: str = "demo") -> Corpus:
    """Load and validate a corpus: `demo`, `full`, or a path to a JSONL(.gz) file."""
    path = resolve_corpus_path(spec)
    passages: list[Passage] = []
    where: list[str] = []
    for number, record in _json_lines(path):
        location = f"{path}:{number}"
        passages.append(passage_from_record(record, location))
        where.append(location)
    return build_corpus(spec if spec in NAMED_CORPORA else path.name, passages, where)


def load_queries(path: str | Path | None = None) -> list[LabelledQuery]:
    """Load labelled queries (the project's file by default); `kind` is optional."""
    path = Path(path) if path is not None else QUERIES_PATH
    if not path.is_file():
        raise CorpusError(f"queries file {path} does not exist")
    queries: list[LabelledQuery] = []
    seen: dict[str, int] = {}
    for number, record in _json_lines(path):
        where = f"{path}:{number}"
        for name in ("id", "text", "rel"):
            if name not in record:
                raise CorpusError(f"{where}: missing field {name!r}")
        if not isinstance(record["id"], str) or not isinstance(record["text"], str):
            raise CorpusError(f"{where}: id and text must be strings")
        rel = record["rel"]
        if not isinstance(rel, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in rel.items()
        ):
            raise CorpusError(f"{where}: rel must map page paths to integer grades")
        kind = record.get("kind")
        if kind is not None and kind not in QUERY_KINDS:
            raise CorpusError(f"{where}: kind must be one of {', '.join(QUERY_KINDS)}")
        if record["id"] in seen:
            raise CorpusError(f"{where}: duplicate query id {record['id']!r} (first at line {seen[record['id']]})")
        seen[record["id"]] = number
        queries.append(LabelledQuery(id=record["id"], text=record["text"], rel=dict(rel), kind=kind))
    if not queries:
        raise CorpusError(f"{path}: no queries")
    return queries


def find_labelled(query: str, queries: list[LabelledQuery]) -> LabelledQuery | None:
    """The labelled query whose text matches `query` (case and spaces ignored), if any."""
    wanted = " ".join(query.lower().split())
    return next((q for q in queries if " ".join(q.text.lower().split()) == wanted), None)
