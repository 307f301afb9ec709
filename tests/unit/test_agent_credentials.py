"""The agent's credentials file: owner-only, replaced atomically, clear errors, no leaks."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from restosync.agent.credentials import AgentCredentials, CredentialsError, new_token
from restosync.errors import ConfigurationError

TOKEN = "agent-token-0123456789abcdef"
SECRET = "outbound-secret-0123456789abcdef"


def _credentials(**changes: str) -> AgentCredentials:
    values = {
        "vendor_id": "vendor-1",
        "token": TOKEN,
        "outbound_secret": SECRET,
        "agent_url": "http://127.0.0.1:9100",
        "erp_type": "odoo",
        **changes,
    }
    return AgentCredentials.model_validate(values)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_credentials_load_back_from_an_owner_only_camel_case_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "agent.json"
    _credentials().save(path)

    assert _mode(path) == 0o600
    assert json.loads(path.read_text()) == {
        "vendorId": "vendor-1",
        "token": TOKEN,
        "outboundSecret": SECRET,
        "agentUrl": "http://127.0.0.1:9100",
        "erpType": "odoo",
    }
    assert AgentCredentials.load(path) == _credentials()
    assert os.listdir(path.parent) == ["agent.json"]  # no temp file left behind


def test_saving_replaces_the_file_instead_of_rewriting_it(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text("{}")
    path.chmod(0o644)
    inode = path.stat().st_ino

    _credentials().save(path)

    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert _mode(path) == 0o600  # and tightened, whatever the old file's mode was


def test_a_failed_save_leaves_the_old_file_intact_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agent.json"
    _credentials().save(path)
    before = path.read_bytes()

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _credentials(token="another-token-0123456789").save(path)

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["agent.json"]


def test_a_missing_file_says_where_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(CredentialsError, match=r"No agent credentials at .*absent\.json.*enrol"):
        AgentCredentials.load(path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        json.dumps({"vendorId": "vendor-1", "token": TOKEN}).encode(),
        json.dumps(
            {
                "vendorId": "vendor-1",
                "token": "short-tok",  # under 16 characters
                "outboundSecret": SECRET,
                "agentUrl": "http://127.0.0.1:9100",
                "erpType": "odoo",
            }
        ).encode(),
    ],
    ids=["empty", "broken-json", "not-an-object", "fields-missing", "token-too-short"],
)
def test_a_corrupt_file_is_a_clear_error_that_quotes_no_secret(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "agent.json"
    path.write_bytes(content)
    path.chmod(0o600)

    with pytest.raises(CredentialsError) as caught:
        AgentCredentials.load(path)

    message = str(caught.value)
    assert str(path) in message
    assert "does not hold valid agent credentials" in message
    assert TOKEN not in message
    assert "short-tok" not in message
    assert caught.value.__cause__ is None  # the validation error (which quotes input) is dropped
    assert isinstance(caught.value, ConfigurationError)  # `restosync` prints it and exits 2


def test_loading_a_file_others_can_read_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "agent.json"
    _credentials().save(path)
    path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="restosync.agent.credentials"):
        AgentCredentials.load(path)

    assert "readable by others" in caplog.text
    assert TOKEN not in caplog.text


def test_secrets_stay_out_of_repr() -> None:
    shown = repr(_credentials(pending_token="pending-token-0123456789"))
    assert "vendor-1" in shown
    assert TOKEN not in shown
    assert SECRET not in shown
    assert "pending-token" not in shown


def test_new_tokens_are_long_random_and_url_safe() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) >= 43 for token in tokens)
    assert all(token.replace("-", "").replace("_", "").isalnum() for token in tokens)
