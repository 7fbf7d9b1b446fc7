"""Files a user's SQL would write: DuckDB's ``COPY ... TO`` and ``EXPORT DATABASE`` write wherever they
are told, the store's own catalog and segments included. :func:`refuse_writes_inside` refuses a
statement whose target lies inside the store folder before DuckDB runs it (as the command line
refuses an output file inside the store): a file there could overwrite the store's own.

May use :mod:`eventkit.common`.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from eventkit.common.errors import InvalidInput

_MAY_WRITE = re.compile(r"\b(copy|export)\b", re.IGNORECASE)  # most queries need no parse at all
_WRITES = {"COPY": "TO", "EXPORT": "DATABASE"}  # statement type -> the keyword before its target


_TARGET = re.compile(r"""'((?:[^']|'')*)'|"((?:[^"]|"")*)"|([^\s(;]+)""")


def _targets(query: str) -> list[str]:
    """The file or folder names that COPY ... TO and EXPORT DATABASE statements in ``query`` write:
    a 'string', a "quoted name" or a bare name (``TO catalog.sqlite`` writes that file too)."""
    out = []
    for statement in duckdb.extract_statements(query):
        keyword = _WRITES.get(statement.type.name)
        if keyword is None:
            continue
        text = statement.query
        tokens = duckdb.tokenize(text)
        ends = [t[0] for t in tokens[1:]] + [len(text)]
        after = [end for (start, kind), end in zip(tokens, ends)
                 if kind.name == "keyword" and text[start:end].strip().upper() == keyword]
        if not after:
            continue
        found = _TARGET.match(text[after[-1]:].lstrip())
        if found:
            single, double, bare = found.groups()
            out.append(single.replace("''", "'") if single is not None else
                       double.replace('""', '"') if double is not None else bare)
    return out


def refuse_writes_inside(query: str, root: Path) -> None:
    """Raise :class:`InvalidInput` if ``query`` would write a file inside the store folder ``root``."""
    if not _MAY_WRITE.search(query):
        return
    try:
        targets = _targets(query)
    except duckdb.Error:
        return  # not SQL DuckDB can parse: running it raises the parser's own error
    root = root.resolve()
    for target in targets:
        if "://" in target:
            continue
        where = Path(target).expanduser().resolve()
        if where == root or root in where.parents:
            raise InvalidInput(
                f"this statement writes {target!r}, which lies inside the store at {root}: write it outside the "
                "store (a file there could overwrite the store's own, e.g. its catalog)", values=[target])
