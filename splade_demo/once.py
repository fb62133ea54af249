"""`Once`: a value loaded once, on first use, by whichever thread asks first; the package's one load-once helper."""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    """`load()`, called at most once at a time and kept once it succeeds; a failed load is not kept, so the next
    call tries again. Callable: `Once(load)()` is the value (a loader, as `Pipeline` takes them)."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load, self._lock = load, threading.Lock()
        self._value: T | None = None
        self._loaded = False

    def get(self) -> T:
        with self._lock:
            if not self._loaded:
                self._value, self._loaded = self._load(), True
        return self._value  # type: ignore[return-value]

    __call__ = get

    @property
    def loaded(self) -> bool:
        return self._loaded
