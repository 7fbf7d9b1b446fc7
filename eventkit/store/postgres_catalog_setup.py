"""Setting up a PostgreSQL catalog: the URL (``?schema=``), the tables, and creating them once.

May use :mod:`eventkit.common` and :mod:`.envelope`; needs ``psycopg`` (imported on first use).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store.envelope import new_id_prefix


FORMAT_VERSION = 1


DEFAULTSCHEMA = "eventkit"


# The hash chain (eventkit.store.integrity) and crypto-shredding's tables (eventkit.store.shredding);
# a catalog created before them gets them on its first open (see add_missing_tables).
PROOF_SCHEMA = """
CREATE TABLE IF NOT EXISTS chain (
    seq BIGINT PRIMARY KEY, kind TEXT NOT NULL, first_position BIGINT NOT NULL, last_position BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL, detail TEXT NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS personal_fields (
    scope TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, fields TEXT NOT NULL, subject TEXT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE TABLE IF NOT EXISTS subject_keys (
    key_id TEXT COLLATE "C" PRIMARY KEY, subject TEXT COLLATE "C" NOT NULL, key BYTEA,
    created_at DOUBLE PRECISION NOT NULL, erased_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS subject_keys_subject ON subject_keys (subject, erased_at);
ALTER TABLE segments ADD COLUMN IF NOT EXISTS sha256 TEXT
"""

# Text keys compare byte by byte (COLLATE "C"), as in SQLite: orderings agree across catalogs.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    head BIGINT NOT NULL, last_recorded BIGINT NOT NULL, hot_count BIGINT NOT NULL, fields_version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS streams (
    stream_id TEXT COLLATE "C" PRIMARY KEY, stream_type TEXT NOT NULL, version BIGINT NOT NULL,
    last_position BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS fields (name TEXT COLLATE "C" PRIMARY KEY, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    segment_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path TEXT NOT NULL UNIQUE, stream_type TEXT NOT NULL,
    first_position BIGINT NOT NULL, last_position BIGINT NOT NULL, event_count BIGINT NOT NULL,
    size_bytes BIGINT NOT NULL, min_occurred BIGINT NOT NULL, max_occurred BIGINT NOT NULL,
    min_recorded BIGINT NOT NULL, max_recorded BIGINT NOT NULL, retired_at DOUBLE PRECISION, sha256 TEXT
);
CREATE INDEX IF NOT EXISTS segments_live ON segments (first_position) WHERE retired_at IS NULL;
CREATE TABLE IF NOT EXISTS stream_segments (
    stream_id TEXT COLLATE "C" NOT NULL, segment_id BIGINT NOT NULL, PRIMARY KEY (stream_id, segment_id)
);
CREATE INDEX IF NOT EXISTS stream_segments_segment ON stream_segments (segment_id);
CREATE TABLE IF NOT EXISTS hot (
    position BIGINT PRIMARY KEY, stream_id TEXT COLLATE "C" NOT NULL, stream_type TEXT NOT NULL,
    version BIGINT NOT NULL, event_type TEXT NOT NULL, event_id TEXT NOT NULL, occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL, data TEXT, metadata TEXT
);
CREATE INDEX IF NOT EXISTS hot_stream ON hot (stream_id, version);
CREATE TABLE IF NOT EXISTS event_ids (event_id TEXT COLLATE "C" PRIMARY KEY, position BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    name TEXT COLLATE "C" PRIMARY KEY, position BIGINT NOT NULL, updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS fold_states (
    fingerprint TEXT COLLATE "C" NOT NULL, position BIGINT NOT NULL, fold TEXT NOT NULL, max_occurred BIGINT,
    streams BIGINT NOT NULL, path TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (fingerprint, position)
);
""" + PROOF_SCHEMA


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError as e:
        raise StoreError(
            "a PostgreSQL catalog needs the psycopg package: pip install 'eventkit[postgresql]' "
            "(or pip install 'psycopg[binary]')"
        ) from e
    return psycopg


def split_url(url: str) -> tuple[str, str]:
    """(libpq URL, schema): the ``schema`` query parameter is eventkit's, the rest libpq's."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), DEFAULTSCHEMA)
    if not schema or not schema.replace("_", "a").isalnum() or schema[0].isdigit():
        raise InvalidInput(f"schema={schema!r} in the catalog URL must be a plain name (letters, digits, _)",
                           column="catalog", values=[schema])
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), schema.lower()


def redacted(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}@{netloc}" if user else netloc, parts.path, "", ""))


def create_tables(conn: Any, schema: str) -> None:
    """Create the catalog's tables in ``schema``; concurrent creators wait on one advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"eventkit-create:{schema}",))
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'SET LOCAL search_path TO "{schema}"')
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        # chain_since: a new store's chain covers it from position 1 (an older one adopts its history).
        conn.execute(
            "INSERT INTO meta VALUES ('format_version', %s), ('created_at', %s), ('id_prefix', %s), "
            "('chain_since', '1') ON CONFLICT (key) DO NOTHING", (str(FORMAT_VERSION), str(time.time()), new_id_prefix()))
        conn.execute("INSERT INTO log VALUES (1, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING")


def add_missing_tables(conn: Any, schema: str) -> None:
    """Give a catalog created before the hash chain its tables (within format 1, as the SQLite catalog does).

    Without ``chain_since`` in ``meta``: the store's first writable open adopts its history
    (:func:`eventkit.store.chain_links.adopt_existing`).
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"eventkit-create:{schema}",))
        conn.execute(f'SET LOCAL search_path TO "{schema}"')
        for statement in PROOF_SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
