"""Plugin registry: entry-point discovery, validation at load, clear unknown-name errors."""

from __future__ import annotations

import pytest

from provenance import plugins
from provenance.errors import PluginValidationError, UnknownGeneratorError, UnknownSignerError


def test_builtin_signer_registers_through_entry_points() -> None:
    names = [p.name for p in plugins.installed("signer")]
    assert "local" in names
    info = next(p for p in plugins.installed("signer") if p.name == "local")
    assert info.distribution == "provenant"


def test_unknown_names_list_installed_plugins() -> None:
    with pytest.raises(UnknownSignerError) as err:
        plugins.get_signer("hsm-that-does-not-exist")
    assert "installed: " in str(err.value)
    assert "local" in str(err.value)
    with pytest.raises(UnknownGeneratorError, match="unknown generator 'nope'"):
        plugins.get_generator("nope")


def test_validation_names_missing_members() -> None:
    class Half:
        name = "half"

        def algorithm(self) -> str:
            return "es256"

    with pytest.raises(PluginValidationError, match="certificate_chain_pem, sign"):
        plugins.validate_plugin("signer", "half", Half)


def test_validation_checks_declared_name() -> None:
    class Misnamed:
        name = "other"
        algorithm = certificate_chain_pem = sign = staticmethod(lambda *a: b"")

    with pytest.raises(PluginValidationError, match="calls itself 'other'"):
        plugins.validate_plugin("signer", "mine", Misnamed)
