"""Password hashes, signed sessions, CSRF tokens, the login limiter and the words for each
credential state: the parts `provenant serve` trusts with its logins."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from provenance.cli import app
from provenance.errors import ConfigError
from provenance.serve.describe import ai_disclosure, policy_verdict
from provenance.serve.passwords import check_password, hash_password, token_digest
from provenance.serve.sessions import LoginLimiter, Signer

FAST = {"n": 2**4}  # tests need the format, not the cost


def test_password_hashes_check_and_carry_their_parameters() -> None:
    stored = hash_password("s3cret-enough", **FAST)
    scheme, n, r, p, _salt, _digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16", "8", "1")
    assert check_password("s3cret-enough", stored)
    assert not check_password("s3cret-enougH", stored)
    assert hash_password("s3cret-enough", **FAST) != stored  # fresh salt each time


@pytest.mark.parametrize("bad", ["plain-text", "scrypt$1$8$1$AA==$AA==", "scrypt$x$8$1$a$b"])
def test_malformed_hashes_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        check_password("anything", bad)


def test_sessions_are_signed_and_expire() -> None:
    signer = Signer(b"k" * 32)
    cookie = signer.session_cookie("lena", now=1000.0)
    assert signer.session_user(cookie, now=1001.0) == "lena"
    assert signer.session_user(cookie, now=10**9) is None  # expired
    assert Signer(b"x" * 32).session_user(cookie, now=1001.0) is None  # other secret
    body, _, mac = cookie.rpartition(".")
    assert signer.session_user(body[:-2] + "AA." + mac, now=1001.0) is None
    assert signer.session_user(None) is None and signer.session_user("garbage") is None


def test_csrf_tokens_must_match_a_signed_cookie() -> None:
    signer = Signer(b"k" * 32)
    cookie = signer.new_csrf_cookie()
    assert signer.csrf_ok(cookie, cookie)
    assert not signer.csrf_ok(cookie, signer.new_csrf_cookie())
    assert not signer.csrf_ok("made.up", "made.up")
    assert not signer.csrf_ok(cookie, "")


def test_the_login_limiter_forgets_after_the_window() -> None:
    limiter = LoginLimiter(attempts=2, window=10)
    limiter.failed("a", now=1.0)
    assert not limiter.blocked("a", now=2.0)
    limiter.failed("a", now=2.0)
    assert limiter.blocked("a", now=3.0) and not limiter.blocked("b", now=3.0)
    assert not limiter.blocked("a", now=12.5)


def test_source_types_and_verdicts_in_words() -> None:
    iptc = "http://cv.iptc.org/newscodes/digitalsourcetype/"
    assert ai_disclosure(iptc + "trainedAlgorithmicMedia") == "Created with generative AI"
    assert "Edited or combined" in (
        ai_disclosure(iptc + "compositeWithTrainedAlgorithmicMedia") or ""
    )
    assert ai_disclosure(None) is None and "odd" in (ai_disclosure("odd") or "")
    assert policy_verdict({"prompt": {"action": "warn"}, "image": {"action": "allow"}}) == "warn"
    assert policy_verdict({"prompt": {"action": "??"}}) is None and policy_verdict(None) is None


def test_users_commands_print_what_the_config_takes() -> None:
    runner = CliRunner()
    hashed = runner.invoke(
        app, ["users", "hash", "--password-stdin", "--json"], input="pw-long-enough\n"
    )
    assert hashed.exit_code == 0, hashed.output
    assert check_password("pw-long-enough", json.loads(hashed.stdout)["password"])
    short = runner.invoke(app, ["users", "hash", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "8 characters" in short.output
    token = json.loads(runner.invoke(app, ["users", "token", "--json"]).stdout)
    assert token_digest(token["token"]) == token["token_sha256"]
