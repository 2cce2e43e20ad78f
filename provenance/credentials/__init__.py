"""The credentials room: what goes into a C2PA manifest and who signs it.

`manifest` builds the manifest definition, `signing` signs bytes through c2pa-python,
`signers` holds the signer plugins, `keys` and `certificates` the studio's key material,
`trust` what C2PA trust means for Provenant, `parent` the credentials an input already carries.

`lineage` walks a file's chain of steps through its manifest store and, read-only, through
the ledger.

May import: kernel, ledger.
"""
