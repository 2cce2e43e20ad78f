"""The verify room: is this file's content credential intact, trusted, and recorded?

`verifier` is the entry point (`Verifier`, `expand_paths`, exit codes); `reading` turns one
file into a `VerificationReport` with c2pa's `Reader`; `report` and `views` hold the report and
its human views; `identities` and `cawg_chain` the CAWG identity assertions; `ledger_match`
the cross-check against the studio's ledger.

May import: kernel, credentials (trust settings), ledger (read-only lookups), softbinding.
"""
