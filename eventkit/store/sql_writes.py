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


def _targets(query: str) -> list[str]:
    """The file or folder names that COPY ... TO and EXPORT DATABASE statements in ``query`` write."""
    out = []
    for statement in duckdb.extract_statements(query):
        keyword = _WRITES.get(statement.type.name)
        if keyword is None:
            continue
        text = statement.query
        tokens = duckdb.tokenize(text)
        pieces = [(kind, text[start:end].strip()) for (start, kind), end in
                  zip(tokens, [t[0] for t in tokens[1:]] + [len(text)])]
        after = [i for i, (kind, word) in enumerate(pieces) if kind.name == "keyword" and word.upper() == keyword]
        if after:
            following = [word for kind, word in pieces[after[-1] + 1:] if kind.name == "string_const"]
            if following:
                literal = following[0].rstrip(";").strip()
                out.append(literal[1:-1].replace("''", "'") if literal[:1] == "'" else literal)
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
