"""'Queued behind N requests': a session whose model call waits for the server-wide admission says so on the page,
and the line goes once the call runs; app.py installs the notice on every run."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def waiting_page() -> None:
    from splade_demo.app.queue_notice import QueueNotice

    notice = QueueNotice()
    notice.waiting(3)


def admitted_page() -> None:
    from splade_demo.app.queue_notice import QueueNotice

    notice = QueueNotice()
    notice.waiting(1)
    notice.admitted()


def installed_page() -> None:
    from splade_demo.app.queue_notice import QueueNotice, install_queue_notice
    from splade_demo.models.admission import admission

    install_queue_notice()
    import streamlit as st

    st.write(f"installed: {isinstance(admission()._local.notice, QueueNotice)}")


def test_a_waiting_call_shows_how_many_requests_are_ahead() -> None:
    at = AppTest.from_function(waiting_page).run()
    assert [i.value for i in at.info] == ["Queued behind 3 requests on this shared server…"]


def test_the_notice_goes_once_the_call_runs() -> None:
    at = AppTest.from_function(admitted_page).run()
    assert not at.info


def test_each_run_installs_the_notice_for_its_thread() -> None:
    at = AppTest.from_function(installed_page).run()
    assert not at.exception
    assert "installed: True" in " ".join(m.value for m in at.markdown)
