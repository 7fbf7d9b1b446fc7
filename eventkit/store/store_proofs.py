"""The store's proof and erasure doors: ``verify``, ``sign_checkpoint``, ``prove``, ``declare_personal``, ``forget``.

:class:`Proving` is a part of :class:`eventkit.store.event_store.Store` (its base class); the work
is done by :mod:`.verify`, :mod:`.signed_checkpoints`, :mod:`.proofs` and :mod:`.shredding`.

May use :mod:`eventkit.common`, :mod:`.catalog_interface`, :mod:`.file_store`, :mod:`.read_snapshot`,
:mod:`.integrity` and :mod:`.shredding`.
"""

from __future__ import annotations

from typing import Any, Sequence

from eventkit.common.errors import InvalidInput
from eventkit.common.sql import quote_ident
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.file_store import FileStore
from eventkit.store.integrity import TamperedStore
from eventkit.store.read_snapshot import read_snapshot
from eventkit.store.shredding import Declarations


class Proving:
    """Proving history and erasing personal data: a part of :class:`~eventkit.store.event_store.Store`."""

    _catalog: CatalogBackend
    files: FileStore
    _declared: tuple[int, Declarations]

    fields: dict[str, str]  # provided by Store (a property there)
    _merge_fields: Any  # provided by Store (its appending part): the schema check every append runs

    def verify(self, *, quick: bool = False, against: Any = None, public_key: Any = None) -> Any:
        """Prove the store holds exactly the history its hash chain records (see :mod:`eventkit.store.integrity`).

        Args:
            quick: Check the chain, the catalog and file sizes only (no re-hashing, no scan).
            against: A signed checkpoint (a path, or the dict :meth:`checkpoint` returned): the store
                must still extend the history it signed.
            public_key: The key the checkpoint must be signed with (a path to a public key file, or
                its text); without it the key inside the checkpoint is used.

        Returns:
            The :class:`~eventkit.store.verify.VerifyReport` when everything checks out.

        Raises:
            TamperedStore: anything differs; its ``report`` lists every problem, first bad link first.

        Example:
            >>> print(store.verify())
        """
        from eventkit.store.signed_checkpoints import check_against
        from eventkit.store.verify import verify

        report = verify(self, quick=quick)
        if against is not None:
            check_against(self, report, against, public_key=public_key)
        if not report.ok:
            raise TamperedStore(str(report), report=report)
        return report

    def sign_checkpoint(self, key: Any) -> dict[str, Any]:
        """A signed statement of the chain's head to keep outside the store (see :mod:`eventkit.store.integrity`).

        Args:
            key: An Ed25519 private key file (``eventkit keygen FILE`` makes one).

        Example:
            >>> cp = store.sign_checkpoint("keys/audit")  # save it elsewhere; later: store.verify(against=cp)
        """
        from eventkit.store.proofs import index_live_files
        from eventkit.store.signed_checkpoints import sign

        sign(self, key)  # a bad key fails before the (longer) indexing
        index_live_files(self)  # every event gets a proof under this checkpoint
        return sign(self, key)

    def prove(self, position: int, *, checkpoint: Any = None) -> dict[str, Any]:
        """An inclusion proof of one event, checkable without the store (``ek.check_proof``).

        Example:
            >>> proof = store.prove(42); ek.check_proof(proof)["event_type"]
        """
        from eventkit.store.proofs import prove

        return prove(self, position, checkpoint=checkpoint)

    def declare_personal(self, *, stream_type: str | None = None, event_type: str | None = None,
                         fields: Sequence[str], subject: str = "stream_id") -> None:
        """Declare payload fields personal: stored encrypted under their subject's key, erasable with :meth:`forget`.

        A setting of the store (kept in its catalog, obeyed by every process). It applies to events
        appended from now on; one of ``stream_type`` or ``event_type`` says which events.

        Args:
            stream_type: The fields are personal in every event of this stream type...
            event_type: ...or in every event of this type.
            fields: Payload field names; their values must be text.
            subject: Whose data it is: ``"stream_id"`` or the name of a payload field (e.g. ``"customer_id"``).

        Raises:
            InvalidInput: bad arguments, a field the store holds with a non-text type, or events of that
                stream or event type already holding the fields in plain text (they could not be erased).

        Example:
            >>> store.declare_personal(stream_type="customer", fields=["name", "email"], subject="stream_id")
        """
        from eventkit.store.shredding import check_declaration, is_token_sql

        scope, name, fields, subject = check_declaration(stream_type, event_type, fields, subject)
        stored = self.fields
        wrong = {f: stored[f] for f in fields if f in stored and stored[f] != "VARCHAR"}
        if wrong:
            raise InvalidInput(f"personal fields hold text only (they are stored encrypted); the store holds {wrong}",
                               column=next(iter(wrong)), values=list(wrong.values()))
        self._refuse_dropping_encrypted(scope, name, fields)
        present = [f for f in fields if f in stored]
        if present:
            with self._catalog.read() as conn:
                raw = read_snapshot(self._catalog, conn, self.files)
            con = raw.connect()
            try:
                plain = con.execute(
                    f"SELECT count(*) FROM events WHERE {scope} = ? AND ("
                    + " OR ".join(f"NOT ({is_token_sql('data.' + quote_ident(f))})" for f in present) + ")",
                    [name]).fetchall()[0][0]
            finally:
                con.close()
            if plain:
                raise InvalidInput(
                    f"{plain:,} stored events of {scope} {name!r} hold {present} in plain text; a declaration applies to "
                    "new appends only and could not erase them: declare personal fields before appending them",
                    column=present[0], values=[name])
            # A field no declaration names yet holds plain text everywhere: text shaped like an encrypted
            # value would read as erased once the field is declared (reads decrypt it), so it is refused.
            new = [f for f in present if f not in self.personal_state()[0]]
            shaped = []
            if new:
                con = raw.connect()
                try:
                    shaped = con.execute(
                        "SELECT DISTINCT * FROM (" + " UNION ALL ".join(
                            f"SELECT {quote_ident(f)} AS v FROM (SELECT data.{quote_ident(f)} FROM events) "
                            f"WHERE {is_token_sql(quote_ident(f))}" for f in new) + ") LIMIT 3").fetchall()
                finally:
                    con.close()
            if shaped:
                raise InvalidInput(
                    f"stored events hold {new} in plain text starting with 'ek1:' or 'ek2:' (the form of an encrypted "
                    "value): declared personal, they would read back as erased; declare another field name",
                    column=new[0], values=[v for (v,) in shaped])
        with self._catalog.write() as conn:
            # The fields join the store's schema as text now, so the case check every append runs sees
            # them: "name" appended under a declared "Name" would otherwise be stored in plain text.
            self._merge_fields(conn, {f: ("VARCHAR", []) for f in fields}, self._catalog.log_state(conn))
            self._catalog.declare_personal(conn, scope, name, fields, subject)

    def _refuse_dropping_encrypted(self, scope: str, name: str, fields: list[str]) -> None:
        """A declaration replacing one of the same stream or event type keeps every field with stored
        encrypted values: reads decrypt only declared fields, so a dropped one would read as its ciphertext
        and escape ``forget``."""
        from eventkit.store.shredding import is_token_sql

        before = next((d["fields"] for d in self.personal_declarations() if d.get(scope) == name), [])
        others = {f for d in self.personal_declarations() if d.get(scope) != name for f in d["fields"]}
        dropped = [f for f in before if f not in fields and f not in others and f in self.fields]
        if not dropped:
            return
        with self._catalog.read() as conn:
            raw = read_snapshot(self._catalog, conn, self.files)
        con = raw.connect()
        try:
            held = [f for f in dropped if con.execute(
                f"SELECT count(*) FROM events WHERE {is_token_sql('data.' + quote_ident(f))}").fetchall()[0][0]]
        finally:
            con.close()
        if held:
            raise InvalidInput(f"stored events hold encrypted values of {held}: a declaration cannot drop them (they "
                               "would read as ciphertext and could no longer be forgotten); keep them in fields=",
                               column=held[0], values=held[:3])

    def forget(self, subject: str) -> int:
        """Erase a subject's personal data by destroying its keys (crypto-shredding).

        From then on every read, fold, export and report shows the subject's personal fields as
        NULL, with ``erased`` true on those events (``erased_fields`` names the fields); everything
        else is unchanged, and ``verify`` still passes (hashes cover the encrypted bytes). The erasure
        is a link in the chain (when, whose). Idempotent: forgetting again returns 0.

        Returns:
            How many keys were destroyed.

        Raises:
            InvalidInput: the store never held personal data of ``subject``.

        Example:
            >>> store.forget("cust-42")
            1
        """
        from eventkit.store.shredding import forget

        return forget(self, subject)

    def personal_state(self) -> tuple[list[str], int]:
        """(the payload fields declared personal, how many erasures the store has seen): what folds need
        to flag results computed from erased values (see :mod:`eventkit.fold.erasure`)."""
        with self._catalog.read() as conn:
            version, erasures = self._catalog.personal_state(conn)
            return self._declarations(conn, {"personal_version": version}).fields, erasures

    def personal_declarations(self) -> list[dict[str, Any]]:
        """The store's personal-field declarations, each as the keyword arguments of :meth:`declare_personal`.

        Example:
            >>> for d in store.personal_declarations(): other.declare_personal(**d)   # doctest: +SKIP
        """
        with self._catalog.read() as conn:
            version, _ = self._catalog.personal_state(conn)
            declared = self._declarations(conn, {"personal_version": version})
        return [{scope: name, "fields": list(fields), "subject": subject}
                for scope, rules in (("stream_type", declared.by_stream_type), ("event_type", declared.by_event_type))
                for name, (fields, subject) in rules.items()]

    def _declarations(self, conn: Any, state: dict[str, int]) -> Declarations:
        """The personal-field declarations, re-read only when ``personal_version`` moved."""
        if self._declared[0] != state.get("personal_version", 0):
            rows = self._catalog.personal_declarations(conn)
            self._declared = (state.get("personal_version", 0), Declarations.from_rows(rows))
        return self._declared[1]
