"""Trust-area fixtures: loaded from tests/fixtures/trust/helpers.py (shared with integration)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _helpers() -> ModuleType:
    name = "provenant_trust_helpers"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "fixtures" / "trust" / "helpers.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_h = _helpers()
th = _h.th
dev_home = _h.dev_home
settings = _h.settings
credential_signer = _h.credential_signer
sign_image = _h.sign_image
foreign_chain = _h.foreign_chain
