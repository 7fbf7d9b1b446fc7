"""Command-line commands for proving history and erasing personal data: verify, keygen, checkpoint,
prove, check-proof, forget. Registered on the ``eventkit`` group by :mod:`eventkit.cli`."""

from __future__ import annotations

import json
from pathlib import Path

import click

import eventkit as ek
from eventkit.cli_common import check_output, user_errors
from eventkit.cli_stores import open_existing
from eventkit.store.signed_checkpoints import generate_key
from eventkit.store.proofs import check_proof


def write_json(doc: dict, out: str | None) -> None:
    text = json.dumps(doc, indent=1)
    if out is None:
        click.echo(text)
    else:
        try:
            Path(out).write_text(text + "\n")
        except OSError as e:
            raise click.ClickException(f"cannot write {out}: {e.strerror or e}") from None
        click.echo(f"wrote {out}", err=True)


@click.command()
@click.argument("path")
@click.option("--quick", is_flag=True, help="Check the chain, the catalog and file sizes only (no re-hashing, no scan).")
@click.option("--against", metavar="CHECKPOINT", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint file: the store must still extend the history it signed.")
@click.option("--public-key", metavar="KEY", help="The checkpoint's public key (a .pub file or 64 hex digits).")
def verify(path: str, quick: bool, against: str | None, public_key: str | None) -> None:
    """Prove the store holds exactly the history its hash chain records.

    Re-hashes every live segment file, walks the chain, and compares the catalog (hot log, segment
    list, stream heads, indexes) with it. Exit status 1 and a list of problems, first bad link
    first, when anything differs. Exit status 2 when the history checks out but declared personal
    fields hold values in plain text (written by an older eventkit; `forget` cannot erase them: the
    report says what to do).

    \b
    Example:
      eventkit verify data/bank
      eventkit verify data/bank --quick
      eventkit verify data/bank --against audit/2024-06-30.checkpoint --public-key audit/key.pub
    """
    with open_existing(path) as store:
        try:
            report = store.verify(quick=quick, against=against, public_key=public_key)
        except ek.TamperedStore as e:
            if e.report is None:
                raise click.ClickException(str(e)) from None
            click.echo(str(e.report))
            raise SystemExit(1) from None
        except ek.EventKitError as e:
            raise click.ClickException(str(e).splitlines()[0]) from None
    click.echo(str(report))
    if report.plain_personal:
        raise SystemExit(2)


@click.command()
@click.argument("file")
def keygen(file: str) -> None:
    """Make an Ed25519 key pair for signing checkpoints: FILE (private) and FILE.pub (public).

    \b
    Example:
      eventkit keygen ~/keys/bank-audit
    """
    check_output(file, "signing key")
    with user_errors():
        private, public = generate_key(file)
    click.echo(f"private key {private} (keep it away from the store)\npublic key  {public}")


@click.command()
@click.argument("path")
@click.option("--key", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The Ed25519 private key file (from `eventkit keygen`).")
@click.option("-o", "--output", "out", metavar="FILE", help="Write the checkpoint here (default: standard output).")
def checkpoint(path: str, key: str, out: str | None) -> None:
    """Sign the chain's head (position, hash, time): keep the checkpoint outside the store.

    \b
    Example:
      eventkit checkpoint data/bank --key ~/keys/bank-audit -o audit/2024-06-30.checkpoint
    """
    check_output(out, "checkpoint")
    with open_existing(path) as store, user_errors():
        doc = store.sign_checkpoint(key)
    write_json(doc, out)


@click.command()
@click.argument("path")
@click.argument("position", type=click.IntRange(min=1))
@click.option("--checkpoint", "cp", metavar="CHECKPOINT", type=click.Path(exists=True, dir_okay=False),
              help="Prove against the tree this checkpoint signed.")
@click.option("-o", "--output", "out", metavar="FILE", help="Write the proof here (default: standard output).")
def prove(path: str, position: int, cp: str | None, out: str | None) -> None:
    """An inclusion proof of the event at POSITION, checkable without the store (`eventkit check-proof`).

    \b
    Example:
      eventkit prove data/bank 1042 --checkpoint audit/2024-06-30.checkpoint -o event-1042.proof
    """
    check_output(out, "proof")
    with open_existing(path) as store, user_errors():
        doc = store.prove(position, checkpoint=cp)
    write_json(doc, out)


@click.command(name="check-proof")
@click.argument("proof", type=click.Path(exists=True, dir_okay=False))
@click.option("--checkpoint", "cp", metavar="CHECKPOINT", type=click.Path(exists=True, dir_okay=False),
              help="The signed checkpoint the proof must lead to.")
@click.option("--public-key", metavar="KEY", help="The checkpoint's public key (a .pub file or 64 hex digits).")
def check_proof_command(proof: str, cp: str | None, public_key: str | None) -> None:
    """Check an inclusion proof with nothing but the proof (and a checkpoint): no store needed.

    \b
    Example:
      eventkit check-proof event-1042.proof --checkpoint audit/2024-06-30.checkpoint --public-key audit/key.pub
    """
    with user_errors():
        try:
            doc = json.loads(Path(proof).read_text())
        except ValueError as e:
            raise click.ClickException(f"{proof} is not a proof file: {e}") from None
        event = check_proof(doc, checkpoint=cp, public_key=public_key)
    click.echo(f"proof OK: position {event['position']:,} ({event.get('stream_id')} v{event.get('version')}, "
               f"{event.get('event_type')}) is in the tree of {doc['tree_size']:,} links with root {doc['tree_root']}"
               + (" signed by the checkpoint" if cp else " (give --checkpoint to tie it to signed history)"))
    click.echo(json.dumps(event, indent=1, default=str))


@click.command()
@click.argument("path")
@click.argument("subject")
def forget(path: str, subject: str) -> None:
    """Erase SUBJECT's personal data (crypto-shredding): its declared personal fields read as NULL from now on.

    The fields are those declared with ``store.declare_personal``; the erasure is logged in the hash
    chain (when, whose), and `eventkit verify` still passes.

    \b
    Example:
      eventkit forget data/shop cust-00042
    """
    with open_existing(path) as store, user_errors():
        destroyed = store.forget(subject)
    click.echo(f"forgot {subject}: {destroyed} key(s) destroyed" if destroyed else f"{subject} was forgotten already")


COMMANDS = [verify, keygen, checkpoint, prove, check_proof_command, forget]
