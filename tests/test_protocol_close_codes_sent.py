"""The engine refuses to put close codes on the wire that RFC 6455 §7.4 forbids."""

from __future__ import annotations

import pytest

from asgiws.exceptions import ProtocolError
from asgiws.protocol import Connection, Role


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_unsendable_codes_are_refused(code: int) -> None:
    engine = Connection(Role.SERVER)
    with pytest.raises(ProtocolError):
        engine.send_close(code, "")
    assert engine.close_sent is None  # nothing was sent: a valid close can still follow
    assert engine.send_close(1000, "") == b"\x88\x02\x03\xe8"


@pytest.mark.parametrize("code", [1000, 1001, 1011, 1012, 1013, 1014, 3000, 4999])
def test_sendable_codes(code: int) -> None:
    engine = Connection(Role.SERVER)
    assert engine.send_close(code, "") == b"\x88\x02" + code.to_bytes(2, "big")
