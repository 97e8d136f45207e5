"""Input history kept across kernel restarts in SQLite, under the Jupyter data directory.

Each kernel process is one *session* (a row in ``sessions``); each stored cell is a *line* of it
(its execution count). ``history_request`` reads it like IPython does: ``tail`` the last n
entries, ``range`` [start, stop) of one session (0 or negative: relative to the current one),
``search`` a glob. The database is opened on first use so start-up never waits for it.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path

log = logging.getLogger(__name__)

HistoryEntry = list[Any]  # [session, line, source] or [session, line, [source, output]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session INTEGER PRIMARY KEY AUTOINCREMENT, start TEXT, pid INTEGER);
CREATE TABLE IF NOT EXISTS history (
    session INTEGER, line INTEGER, source TEXT, output TEXT, PRIMARY KEY (session, line));
"""


def default_history_path() -> Path:
    from pathlib import Path

    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "pragma-kernel" / "history.sqlite"


def make_private(path: Path, own_folder: bool = True) -> None:
    """Make ``path`` a file only its owner can read (0600), before SQLite opens it: cells may
    hold secrets. SQLite gives its ``-wal`` and ``-shm`` files the database's mode; files left
    by an older version are tightened. ``own_folder``: the folder is the kernel's alone (the
    default one), made or tightened to 0700; a folder the caller chose is only created."""
    import stat

    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if own_folder and stat.S_IMODE(folder.stat().st_mode) & 0o077:
        folder.chmod(0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if stat.S_IMODE(file.stat().st_mode) & 0o077:
                file.chmod(0o600)
        except FileNotFoundError:
            continue


class HistoryStore:
    def __init__(self, path: Path | str | None = None):
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._session = 0
        self._lock = threading.Lock()

    @property
    def session(self) -> int:
        """This store's session number (the database is opened to allocate it)."""
        if not self._session:
            self._connection()
        return self._session

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
            self._db.executescript(_SCHEMA)
            cursor = self._db.execute(
                "INSERT INTO sessions (start, pid) VALUES (datetime('now'), ?)", (os.getpid(),)
            )
            self._session = int(cursor.lastrowid)
        return self._db

    def _open(self) -> sqlite3.Connection:
        import sqlite3  # here, not at import: start-up does not need it
        from pathlib import Path

        path = Path(self._path) if self._path is not None else default_history_path()
        try:
            make_private(path, own_folder=self._path is None)
            db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
            # WAL without fsync: a stored cell costs a write(), and a crash may lose only the
            # last few lines of history, never corrupt it.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            return db
        except (OSError, sqlite3.Error) as error:
            log.warning("history kept in memory only: cannot use %s (%s)", path, error)
            return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)

    def store(self, line: int, source: str, output: str | None = None) -> None:
        with self._lock:
            self._connection().execute(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?)",
                (self._session, line, source, output),
            )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- queries -----------------------------------------------------------------------------
    def tail(self, n: int, output: bool = False) -> list[HistoryEntry]:
        rows = self._query(
            "SELECT session, line, source, output FROM history "
            "ORDER BY session DESC, line DESC LIMIT ?",
            (max(0, int(n)),),
        )
        return self._entries(reversed(rows), output)

    def range(
        self, session: int, start: int, stop: int | None, output: bool = False
    ) -> list[HistoryEntry]:
        """Lines [start, stop) of ``session`` (<= 0: relative to this kernel's session)."""
        if session <= 0:
            session += self.session
        sql = "SELECT session, line, source, output FROM history WHERE session = ? AND line >= ?"
        params: tuple = (session, start)
        if stop is not None:
            sql += " AND line < ?"
            params += (stop,)
        return self._entries(self._query(sql + " ORDER BY line", params), output)

    def search(
        self, pattern: str, n: int | None = None, unique: bool = False, output: bool = False
    ) -> list[HistoryEntry]:
        """Entries whose source matches the glob ``pattern``; the last ``n`` when n is given;
        with ``unique``, each source once (its latest occurrence)."""
        where = "source GLOB ?"
        if unique:  # the latest stored occurrence of each matching source
            where = "rowid IN (SELECT max(rowid) FROM history WHERE source GLOB ? GROUP BY source)"
        sql = f"SELECT session, line, source, output FROM history WHERE {where} "
        if n:
            rows = self._query(sql + "ORDER BY session DESC, line DESC LIMIT ?", (pattern, n))
            return self._entries(reversed(rows), output)
        return self._entries(self._query(sql + "ORDER BY session, line", (pattern,)), output)

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    @staticmethod
    def _entries(rows, output: bool) -> list[HistoryEntry]:
        if output:
            return [[s, line, [source, out]] for s, line, source, out in rows]
        return [[s, line, source] for s, line, source, _ in rows]
