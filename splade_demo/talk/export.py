"""`export_talk`: every guide step drawn into one offline HTML page, with what is missing said step by step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pathlib import Path

from splade_demo.config import Settings
from splade_demo.data.corpus import NAMED_CORPORA, load_corpus, load_queries
from splade_demo.models.loading import load_mlm
from splade_demo.once import Once
from splade_demo.retrieval.pipeline import Pipeline, splade_encoder
from splade_demo.talk.document import Header, Section, document
from splade_demo.talk.panels import NOT_BUILT, TalkData, TalkSources, Unavailable, panel
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


def _corpus_name(spec: str) -> str:
    """`demo`, `full`, or a file's name (never a path of this machine)."""
    return spec if spec in NAMED_CORPORA else Path(spec).name


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
    try:
        precision = data.encoder.precision
    except Unavailable:
        precision = f"{settings.precision} (requested; the SPLADE model is not on this machine)"
    try:
        data.index_ready()
        index = "built"
    except Unavailable:
        index = "not available"
    return Header(data.query, (
        ("SPLADE model", _model_line(data, settings.splade_model, "encoder")),
        ("Fill-mask model", _model_line(data, settings.mlm_model, "mlm")),
        ("Static vectors", settings.glove),
        ("Corpus", f"{_corpus_name(settings.corpus)}, {len(data.pipeline.engine):,} passages"),
        ("Retrieval engine", settings.engine.split(":", 1)[0]),
        ("SPLADE precision", precision),
        ("SPLADE index", index),
    ), exported.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def export_talk(query: str, sources: TalkSources, now: datetime | None = None) -> TalkExport:
    """Every step of the guided talk for `query` (already checked), in talk order. Raises CorpusError when the
    corpus cannot be loaded (bad input); a missing model or index only leaves its steps out."""
    len(sources.pipeline.engine)  # a corpus that cannot be loaded is bad input: said before any model loads
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
    """The command line's sources: the pipeline of SPLADE_DEMO_ENGINE, each component loaded on first use; with the
    memory engine, the SPLADE index only if it is cached or in a matching index pack (the export never starts a
    build: `index` does)."""
    from splade_demo.retrieval.splade_index import load_existing_index  # imports torch

    corpus = Once(lambda: load_corpus(settings.corpus))
    encoder = Once(lambda: splade_encoder(settings.splade_model, settings.precision))
    built = Once(lambda: load_existing_index(encoder(), corpus(), settings.cache_dir))

    def index() -> "SpladeIndex":
        found = built()
        if found is None:
            raise Unavailable(NOT_BUILT)
        return found

    pipeline = Pipeline.from_settings(settings, corpus=corpus, encoder=encoder, splade_index=index, splade_ready=built)
    return TalkSources(settings, pipeline, Once(lambda: load_mlm(settings.mlm_model)), load_queries)
