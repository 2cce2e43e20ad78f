"""Policy plugins: prompt safety, known works, output safety and model licences.

Each policy registers under the `provenant.policies` entry-point group exactly like a
third-party plugin (`provenance.plugins.get_policy(name)`).  The known-works plugin also
contributes its `works` command (`provenant.commands`) and its tables' Alembic branch
(`provenant.migrations`), so neither the core nor the CLI imports it.

May import: kernel, `provenance.ledger.db`, `provenance.ledger.coltypes`,
`provenance.ledger.migrate` (the known-works tables), `provenance.cli._output`,
`provenance.cli._state` (the helpers a contributed command uses).
"""
