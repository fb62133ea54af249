"""`export_talk`: every guide step drawn into one offline HTML page, with what is missing said step by step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from splade_demo.config import Settings
from splade_demo.data.corpus import load_queries
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.pipeline import sources_from_settings
from splade_demo.retrieval.splade_index import load_index
from splade_demo.talk.document import Header, Section, document
from splade_demo.talk.panels import TalkData, TalkSources, Unavailable, panel
from splade_demo.talk.steps import TalkStep, talk_steps

if TYPE_CHECKING:
    from splade_demo.models.loading import LoadedMLM
    from splade_demo.retrieval.splade_index import SpladeIndex


@dataclass(frozen=True)
class TalkExport:
    """The page, and the steps left out with their reasons."""

    html: str
    steps: int
    left_out: tuple[tuple[TalkStep, str], ...]

    def summary(self, path: str) -> str:
        """One line: what was written and how many steps were left out (and why, for the first reason)."""
        size = len(self.html.encode("utf-8")) / 1e6
        line = f"wrote {path} ({size:.1f} MB): {self.steps - len(self.left_out)} of {self.steps} steps, " \
               f"{len(self.left_out)} left out"
        if self.left_out:
            numbers = ", ".join(str(step.number) for step, _ in self.left_out)
            line += f" (steps {numbers}: {self.left_out[0][1]})"
        return line

    def as_json(self, path: str) -> dict[str, object]:
        return {"path": path, "bytes": len(self.html.encode("utf-8")), "steps": self.steps,
                "left_out": [{"step": s.number, "title": s.title, "reason": r} for s, r in self.left_out]}


def _model_line(data: TalkData, name: str, load: str) -> str:
    try:
        loaded: LoadedMLM = data.encoder.loaded if load == "encoder" else data.mlm
    except Unavailable:
        return f"{name} (not on this machine)"
    location = loaded.location
    return f"{name} (commit {location.commit})" if location.commit else f"{name} ({location.origin})"


def header(data: TalkData, exported: datetime) -> Header:
    """The models with their commits, the corpus, the precision and the date."""
    settings = data.sources.settings
    corpus = data.sources.corpus()
    try:
        precision = data.encoder.precision
    except Unavailable:
        precision = f"{settings.precision} (requested; the SPLADE model is not on this machine)"
    try:
        index = "built" if data.index is not None else "not built"
    except Unavailable:
        index = "not available"
    return Header(data.query, (
        ("SPLADE model", _model_line(data, settings.splade_model, "encoder")),
        ("Fill-mask model", _model_line(data, settings.mlm_model, "mlm")),
        ("Static vectors", settings.glove),
        ("Corpus", f"{corpus.name}, {len(corpus.passages):,} passages"),
        ("SPLADE precision", precision),
        ("SPLADE index", index),
    ), exported.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def export_talk(query: str, sources: TalkSources, now: datetime | None = None) -> TalkExport:
    """Every step of the guided talk for `query` (already checked), in talk order. Raises CorpusError when the
    corpus cannot be loaded (bad input); a missing model or index only leaves its steps out."""
    sources.corpus()  # a corpus that cannot be loaded is bad input: said before any model loads
    data = TalkData(query, sources)
    steps = talk_steps()
    sections: list[Section] = []
    for step in steps:
        try:
            sections.append(Section(step, panel(data, step.panel)))
        except Unavailable as exc:
            sections.append(Section(step, None, str(exc).rstrip(".")))
    page = document(header(data, now or datetime.now(timezone.utc)), sections)
    return TalkExport(page, len(steps), tuple((s.step, s.missing) for s in sections if s.panel is None))


def sources_for(settings: Settings) -> TalkSources:
    """The command line's sources: each component loaded on first use; the SPLADE index only if it is built
    (the export never starts a build: `index` does)."""
    base = sources_from_settings(settings)

    def index() -> "SpladeIndex | None":
        return load_index(base.encoder(), base.corpus(), settings.cache_dir)

    return TalkSources(settings, base.corpus, base.bm25, base.vectors, lambda: load_mlm(settings.mlm_model),
                       base.encoder, index, load_queries)
