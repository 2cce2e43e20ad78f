"""The pipeline room: one request from prompt to recorded, signed file.

`studio` runs `request -> screen_prompt -> generate -> screen_image -> sign -> store + ledger`;
`batch` runs many requests (`farm`: on a Ray cluster, its outputs recorded in batches by
`recorder`); `external` signs and records images made elsewhere (`provenant sign`);
`initialise` creates a studio's data dir.

May import: kernel, credentials, ledger, softbinding.

Generators and policies are reached only through `provenance.plugins`, never imported by name.
"""
