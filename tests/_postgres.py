"""A throwaway PostgreSQL cluster for the tests: a temporary data folder, a free local port, stopped at the end.

Used by the ``postgres_url`` session fixture in ``conftest.py`` and by ``scripts/postgres.sh``
(``python tests/_postgres.py start`` prints a URL and the data folder; ``... stop FOLDER`` stops it).

- ``EVENTKIT_TEST_POSTGRES=postgresql://...``: use that server instead of starting one.
- The binaries (``initdb``, ``pg_ctl``) are looked up on PATH and in ``/usr/lib/postgresql/*/bin``;
  when missing and this process is root on Debian, ``apt-get install -y postgresql`` installs them.
- As root, PostgreSQL refuses to run: the cluster is made and run as the ``postgres`` user.

The cluster trades durability for speed (``fsync=off``): it is thrown away after the run.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """The cluster could not be started; the message says why."""


@dataclass
class Cluster:
    url: str
    data_dir: Path | None  # None: a server given by EVENTKIT_TEST_POSTGRES (not ours to stop)
    bin_dir: Path | None

    def stop(self) -> None:
        if self.data_dir is None or not self.data_dir.exists():
            return
        stop_cluster(self.data_dir, self.bin_dir)


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin) and this "
            "process cannot install it (needs root and apt-get): install the `postgresql` package, or set "
            "EVENTKIT_TEST_POSTGRES=postgresql://... to use a running server"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise PostgresUnavailable(f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-500:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """Run as the ``postgres`` user when root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return cmd
    runner = shutil.which("runuser")
    if runner:
        return [runner, "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(_quote(c) for c in cmd)]


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise PostgresUnavailable(f"{what} failed ({' '.join(cmd[:2])}): {(done.stderr or done.stdout).strip()[-800:]}")


def start_cluster() -> Cluster:
    """Start a new cluster (or use ``EVENTKIT_TEST_POSTGRES``); its URL answers when this returns."""
    given = os.environ.get("EVENTKIT_TEST_POSTGRES")
    if given:
        return Cluster(given, None, None)
    bin_dir = _bin_dir()
    if bin_dir is None:
        _install()
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable("apt-get installed postgresql, but no pg_ctl was found afterwards")
    data = Path(tempfile.mkdtemp(prefix="eventkit-pg-"))
    os.chmod(data, 0o700)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    _run([str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
          "--locale=C", "--no-sync"], "initdb")
    options = (f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
               "-c max_connections=200")
    _run([str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "-t", "60",
          "start"], "starting PostgreSQL")
    return Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", data, bin_dir)


def stop_cluster(data: Path, bin_dir: Path | None = None) -> None:
    """Stop the cluster in ``data`` (fast: its contents are thrown away) and remove the folder."""
    bin_dir = bin_dir or _bin_dir()
    if bin_dir is not None and (data / "db" / "postmaster.pid").exists():
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "-w",
                                     "stop"]), capture_output=True, timeout=120)
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        cluster = start_cluster()
        print(cluster.url)
        print(cluster.data_dir or "")
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 3:
        stop_cluster(Path(sys.argv[2]))
    else:
        sys.exit("usage: python tests/_postgres.py start | stop DATA_FOLDER")
