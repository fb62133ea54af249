"""A real Milvus server for the tests: milvus-lite's own binary serving gRPC on a free TCP port.

`milvus_lite/lib/milvus DB_FILE HOST:PORT LOG_LEVEL`, with its folder on LD_LIBRARY_PATH (DESIGN.md,
environment facts). It does not implement every RPC of a full server (`GetVersion` answers UNIMPLEMENTED),
which is exactly what the client must tolerate. The server is reached as `milvus:http://127.0.0.1:PORT`.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT_S = 60.0  # a generous bound on the port opening (measured: well under a second)


def milvus_binary() -> Path | None:
    """milvus-lite's server binary, or None where milvus-lite (or its binary) is not installed."""
    spec = importlib.util.find_spec("milvus_lite")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(list(spec.submodule_search_locations)[0]) / "lib" / "milvus"
    return binary if binary.is_file() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MilvusServer:
    """One milvus-lite server process over `db_file`; `start()` waits for its port, `stop()`/`kill()` end it."""

    def __init__(self, db_file: Path, port: int | None = None) -> None:
        binary = milvus_binary()
        if binary is None:
            raise RuntimeError("milvus-lite's server binary is not installed")
        self.binary, self.db_file, self.port = binary, Path(db_file), port or free_port()
        self.log = self.db_file.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def engine(self) -> str:
        return f"milvus:{self.uri}"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MilvusServer":
        env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(
            p for p in (str(self.binary.parent), os.environ.get("LD_LIBRARY_PATH", "")) if p)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(self.binary), str(self.db_file), f"127.0.0.1:{self.port}", "ERROR"],
                                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Milvus server exited with {self.process.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return self
            except OSError:
                time.sleep(0.05)  # polling the port, not asserting on time
        self.stop()
        raise RuntimeError(f"the Milvus server did not open port {self.port} within {START_TIMEOUT_S:.0f} s")

    def kill(self) -> None:
        """SIGKILL: the server dies as on a power cut, with no chance to flush."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
