"""Soft bindings: what keeps an image findable after its metadata is stripped.

An invisible watermark carries a ledger-issued id with check bits (`payload`, `watermark`),
a perceptual fingerprint describes the pixels (`fingerprint`), both are declared in the
manifest's `c2pa.soft-binding` assertions (`assertion`) and stored with the ledger row, and
`recovery` looks a file's decoded id and fingerprint up in the ledger (`index` holds the
fingerprints for a nearest-neighbour search).  Nothing here touches SQLAlchemy or torch, so
`provenant verify` can use it.

May import: kernel, ledger.
"""
