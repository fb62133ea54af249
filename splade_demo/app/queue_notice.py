"""'Queued behind N requests': what a session sees while its model call waits for the server-wide admission
(models/admission.py) instead of a frozen page. app.py installs it at the start of every script run."""

from __future__ import annotations

import streamlit as st

from splade_demo.models.admission import serve


class QueueNotice:
    """Shows an info line where the page is waiting; removes it once the call runs."""

    def __init__(self) -> None:
        self._slot = None

    def waiting(self, ahead: int) -> None:
        self._slot = st.empty()
        self._slot.info(f"Queued behind {ahead} request{'' if ahead == 1 else 's'} on this shared server…", icon="⏳")

    def admitted(self) -> None:
        if self._slot is not None:
            self._slot.empty()
            self._slot = None


def install_queue_notice() -> None:
    """Route this script run's model-call waits to a QueueNotice (and size torch's threads for a server)."""
    serve().set_notice(QueueNotice())
