"""Verification internals: reports, reading credentials with c2pa, certificate chains, CAWG
identity assertions, views.

The public entry point is `provenance.verify` (`Verifier`, `expand_paths`, ...); these
modules are split out so each stays small.
"""
