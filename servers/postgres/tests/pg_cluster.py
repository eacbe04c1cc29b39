"""A private PostgreSQL cluster that a test may stop and start again (the shared one must never restart).

It uses the same binaries and the same run-as-postgres rules as patchbay_common.testing.components.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchbay_common.testing import components


@dataclass
class Cluster:
    """A cluster on a fixed port; `stop()` and `start()` keep its data and port."""

    base: Path
    port: int
    owner: Any
    pg_ctl: str
    options: str

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        socket_dir = shlex.quote(str(self.base))
        opts = f"-p {self.port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off {self.options}"
        components._run(
            [
                self.pg_ctl,
                "-D",
                str(self.data),
                "-l",
                str(self.base / "server.log"),
                "-o",
                opts,
                "-w",
                "start",
            ],
            self.base,
            self.owner,
            self.base / "server.log",
        )

    def stop(self, mode: str = "fast") -> None:
        components._run([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"], self.base, self.owner)


@contextlib.contextmanager
def private_cluster(options: str = "") -> Iterator[Cluster]:
    """initdb a new cluster on a free port, start it, and remove it afterwards."""
    bindir = components._postgres_bindir()
    base = Path(tempfile.mkdtemp(prefix="patchbay-pg-private-"))
    try:
        owner = components._postgres_owner(base)
        initdb = [
            str(bindir / "initdb"),
            "-D",
            str(base / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
        ]
        components._run([*initdb, "--locale=C", "--no-sync"], base, owner)
        cluster = Cluster(base, components.free_port(), owner, str(bindir / "pg_ctl"), options)
        cluster.start()
        try:
            yield cluster
        finally:
            components._stop_postgres(cluster.pg_ctl, cluster.data, base, owner)
    finally:
        shutil.rmtree(base, ignore_errors=True)
