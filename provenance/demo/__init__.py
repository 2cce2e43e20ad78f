"""The demo room: `provenant demo`, the main job end to end on a fresh machine.

`run` drives it; `assets/` holds the sample photographs (sources in `assets/SOURCES.txt`).

May import: kernel, credentials, ledger, verify, pipeline, audit, cli.  Nothing imports the
demo except the CLI; generators and policies are reached through `provenance.plugins` and
the commands they contribute.
"""
