"""Signed checkpoints of the chain's head (Ed25519), kept outside the store.

A checkpoint states: this store's chain had ``links`` links, its last link's hash was ``head_hash``,
the RFC 6962 root over the link hashes was ``tree_root``, at ``position`` and ``signed_at``. Since
every link's hash covers the one before it, a store whose link ``links`` still has that hash
extends exactly the signed history; someone able to rewrite the store and re-hash everything in
it still cannot produce that hash without the old history, nor a new signature without the key.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store import merkle
from eventkit.store.integrity import Link, canonical

FORMAT = "eventkit-checkpoint-1"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as e:  # a dependency of eventkit: only a broken install lacks it
        raise StoreError("signed checkpoints need the `cryptography` package: pip install cryptography") from e
    return ed25519


def generate_key(path: str | os.PathLike) -> tuple[Path, Path]:
    """Write a new Ed25519 private key to ``path`` (mode 600) and its public key to ``path.pub``.

    Returns:
        The two paths. Keep the private key away from the store's machine if you can: whoever holds
        it can sign a checkpoint of a rewritten history.

    Raises:
        InvalidInput: ``path`` exists (a key is never overwritten).
    """
    from cryptography.hazmat.primitives import serialization

    ed25519 = _crypto()
    path = Path(path)
    public = path.with_name(path.name + ".pub")
    for p in (path, public):
        if p.exists():
            raise InvalidInput(f"{p} exists; a key is never overwritten: choose another file name", values=[str(p)])
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as e:
        raise InvalidInput(f"cannot write the key {path}: {e.strerror or e}", values=[str(path)]) from None
    return path, public


def _private_key(key: Any) -> Any:
    from cryptography.hazmat.primitives import serialization

    ed25519 = _crypto()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    try:
        data = Path(key).read_bytes()
    except (OSError, TypeError) as e:
        raise InvalidInput(f"cannot read the signing key {key!r}: {e}; make one with `eventkit keygen FILE`",
                           values=[str(key)]) from e
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"{key} is not an unencrypted PEM private key ({e}); make one with `eventkit keygen FILE`",
                           values=[str(key)]) from e
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise InvalidInput(f"{key} is not an Ed25519 key; make one with `eventkit keygen FILE`", values=[str(key)])
    return loaded


def public_key_hex(key: Any) -> str:
    """A public key given as a PEM file, PEM text or 64 hex digits, as hex."""
    from cryptography.hazmat.primitives import serialization

    ed25519 = _crypto()
    text = key
    if isinstance(key, (str, os.PathLike)) and Path(key).is_file():
        text = Path(key).read_text()
    text = str(text).strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        loaded = serialization.load_pem_public_key(text.encode())
    except ValueError as e:
        raise InvalidInput("the public key must be a PEM file (from `eventkit keygen`), PEM text or 64 hex digits",
                           values=[str(key)[:80]]) from e
    if not isinstance(loaded, ed25519.Ed25519PublicKey):
        raise InvalidInput("the public key is not an Ed25519 key", values=[str(key)[:80]])
    return loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def tree_root(links: list[Link]) -> bytes:
    """The RFC 6962 root over the links' hashes (each link hash is one leaf)."""
    return merkle.root([merkle.leaf_hash(link.hash) for link in links])


def sign(store: Any, key: Any) -> dict[str, Any]:
    """A signed checkpoint of ``store``'s chain now (:meth:`Store.checkpoint` indexes the segment files
    first, so that every event has a proof under it: :func:`eventkit.store.proofs.index_live_files`)."""
    private = _private_key(key)
    with store._catalog.read() as tx:
        links = [Link(*row) for row in store._catalog.links(tx)]
        head = store._catalog.meta_int(tx, "head")
    if not links:
        raise StoreError(f"the store at {store.path} has no hash chain yet (no events): nothing to sign")
    from cryptography.hazmat.primitives import serialization

    body = {
        "format": FORMAT, "store": store._catalog.id_prefix, "links": len(links), "position": head,
        "head_hash": links[-1].hash.hex(), "tree_root": tree_root(links).hex(),
        "signed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds"),
        "public_key": private.public_key().public_bytes(serialization.Encoding.Raw,
                                                         serialization.PublicFormat.Raw).hex(),
    }
    return {**body, "signature": private.sign(canonical(body).encode()).hex()}


def load_checkpoint(checkpoint: Any) -> dict[str, Any]:
    if isinstance(checkpoint, dict):
        return checkpoint
    try:
        return json.loads(Path(checkpoint).read_text())
    except (OSError, ValueError) as e:
        raise InvalidInput(f"cannot read the checkpoint {checkpoint}: {e}", values=[str(checkpoint)]) from e


def check_signature(cp: dict[str, Any], public_key: Any = None) -> None:
    """Check a checkpoint's signature, with ``public_key`` when given (else the key it carries).

    Raises:
        StoreError: the signature does not match, or the checkpoint was signed by another key.
    """
    from cryptography.exceptions import InvalidSignature

    ed25519 = _crypto()
    if cp.get("format") != FORMAT:
        raise StoreError(f"not an eventkit checkpoint (format {cp.get('format')!r}, expected {FORMAT!r})")
    if public_key is not None and public_key_hex(public_key) != cp["public_key"]:
        raise StoreError("the checkpoint was signed by another key than the one given: it is not your checkpoint")
    body = {k: v for k, v in cp.items() if k != "signature"}
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(cp["public_key"])).verify(
            bytes.fromhex(cp["signature"]), canonical(body).encode())
    except (InvalidSignature, ValueError) as e:
        raise StoreError("the checkpoint's signature does not match its content: it was altered") from e


def check_against(store: Any, report: Any, checkpoint: Any, *, public_key: Any = None) -> None:
    """Add to ``report`` a problem when the store does not extend the history ``checkpoint`` signed."""
    from eventkit.store.verify import Problem

    cp = load_checkpoint(checkpoint)
    try:
        check_signature(cp, public_key)
    except StoreError as e:
        report.problems.append(Problem(f"checkpoint: {e}"))
        return
    if public_key is None:
        report.notes.append("the checkpoint's signature was checked with the key it carries; pass the public key "
                            "(--public-key) to be sure it is yours")
    n = int(cp["links"])
    with store._catalog.read() as tx:
        links = [Link(*row) for row in store._catalog.links(tx, upto_seq=n)]
    if cp["store"] != store._catalog.id_prefix:
        report.problems.append(Problem("the checkpoint is of another store"))
    elif len(links) < n:
        report.problems.append(Problem(f"the store's chain has {len(links):,} links; the checkpoint signed {n:,}: "
                                       "history was removed", link=len(links) + 1))
    elif links[-1].hash.hex() != cp["head_hash"] or tree_root(links).hex() != cp["tree_root"]:
        first = next((ln.seq for ln in links if ln.expected_hash() != ln.hash), n)
        report.problems.append(Problem(f"the store no longer extends the checkpoint of {cp['signed_at']} (link {n:,}, "
                                       "position {:,}): its history was rewritten".format(cp["position"]), link=first))
    else:
        report.notes.append(f"extends the checkpoint signed {cp['signed_at']} (link {n:,}, position {cp['position']:,})")
