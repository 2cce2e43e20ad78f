"""The demo room: `provenant demo`, the main job end to end on a fresh machine.

`run` drives it; `assets/` holds the sample photographs (sources in `assets/SOURCES.txt`).

May import: any room; nothing imports the demo except the CLI.
"""
