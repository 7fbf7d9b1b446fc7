"""Proving history and erasing personal data: the hash chain over commits, its verification,
Merkle inclusion proofs, signed checkpoints and crypto-shredding of personal fields.

May use :mod:`eventkit.common` and the store's lower modules (catalog, file store) only.
"""
