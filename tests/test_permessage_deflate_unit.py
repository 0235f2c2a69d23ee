"""permessage-deflate (RFC 7692) negotiation: offers, responses, parameters, defaults.

Cross-checked against an independent implementation, ``websockets``'s permessage-deflate, as a
negotiation oracle. The frame rules, compression bombs and idle memory are in
``test_permessage_deflate_frames.py``.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from helpers_deflate import RSV1, config, negotiate, summary
from websockets.extensions import permessage_deflate as ws_pmd

from asgiws.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
)
from asgiws.protocol.extensions.base import Extension
from asgiws.protocol.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from asgiws.protocol.headers import ExtensionParameter, build_extension, parse_extension_list

DECLINE = None


def params(text: str) -> list[ExtensionParameter]:
    """``"a; b=1"`` -> ``[("a", None), ("b", "1")]`` through the real header parser."""
    [(_, parsed)] = parse_extension_list("permessage-deflate" + (f"; {text}" if text else ""))
    return parsed


def text(response: list[ExtensionParameter]) -> str:
    return build_extension("", response).removeprefix("; ")


# ------------------------------------------------------------------------ server negotiation

SERVER_TABLE = [  # (server config, client offer, response or DECLINE)
    ({}, "", ""),
    ({}, "client_max_window_bits", ""),
    ({}, "client_max_window_bits=10", "client_max_window_bits=10"),
    ({}, "server_max_window_bits=10", "server_max_window_bits=10"),
    ({}, "server_max_window_bits=8", "server_max_window_bits=8"),  # websockets declines
    ({}, 'server_max_window_bits="9"', "server_max_window_bits=9"),
    ({}, "server_no_context_takeover", "server_no_context_takeover"),
    ({}, "client_no_context_takeover", "client_no_context_takeover"),
    ({"server_no_context_takeover": True}, "", "server_no_context_takeover"),
    ({"client_no_context_takeover": True}, "", "client_no_context_takeover"),
    ({"server_max_window_bits": 12}, "", "server_max_window_bits=12"),
    ({"server_max_window_bits": 12}, "server_max_window_bits=10", "server_max_window_bits=10"),
    ({"server_max_window_bits": 12}, "server_max_window_bits=14", "server_max_window_bits=12"),
    ({"client_max_window_bits": 12}, "", ""),
    ({"client_max_window_bits": 12}, "client_max_window_bits", "client_max_window_bits=12"),
    ({"client_max_window_bits": 12}, "client_max_window_bits=10", "client_max_window_bits=10"),
    ({"client_max_window_bits": 12}, "client_max_window_bits=14", "client_max_window_bits=12"),
    ({"client_max_window_bits": 12, "require_client_max_window_bits": True}, "", DECLINE),
    (
        {"client_max_window_bits": 12, "require_client_max_window_bits": True},
        "client_max_window_bits",
        "client_max_window_bits=12",
    ),
    (
        {},
        "server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=8",
        "server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=8",
    ),
    (
        {"server_max_window_bits": 12, "client_max_window_bits": 12},  # the defaults
        "client_max_window_bits",  # what browsers send
        "server_max_window_bits=12; client_max_window_bits=12",
    ),
]


@pytest.mark.parametrize(("server_config", "offer", "response"), SERVER_TABLE)
def test_server_negotiation_table(server_config: dict[str, Any], offer: str, response: str):
    factory = ServerPerMessageDeflateFactory(**server_config)
    if response is DECLINE:
        with pytest.raises(NegotiationError):
            factory.process_request_params(params(offer), [])
        return
    answer, extension = factory.process_request_params(params(offer), [])
    assert text(answer) == response
    # The extension follows the response: client_* is remote, server_* is local.
    agreed = dict(answer)
    assert extension.remote_no_context_takeover == ("client_no_context_takeover" in agreed)
    assert extension.local_no_context_takeover == ("server_no_context_takeover" in agreed)
    assert extension.remote_max_window_bits == int(agreed.get("client_max_window_bits") or 15)
    assert extension.local_max_window_bits == int(agreed.get("server_max_window_bits") or 15)


INVALID_PARAMS = [
    ("foo", InvalidParameterName),
    ("foo=1", InvalidParameterName),
    ("Server_No_Context_Takeover", InvalidParameterName),
    ("server_no_context_takeover; server_no_context_takeover", DuplicateParameter),
    ("client_no_context_takeover; client_no_context_takeover", DuplicateParameter),
    ("server_max_window_bits=10; server_max_window_bits=10", DuplicateParameter),
    ("server_max_window_bits=10; server_max_window_bits=11", DuplicateParameter),
    ("client_max_window_bits=9; client_max_window_bits=10", DuplicateParameter),
    ("server_no_context_takeover=1", InvalidParameterValue),
    ("client_no_context_takeover=yes", InvalidParameterValue),
    ("server_max_window_bits", InvalidParameterValue),
    *[
        (f"{name}={value}", InvalidParameterValue)
        for name in ("server_max_window_bits", "client_max_window_bits")
        for value in ("7", "16", "0", "08", "015", "+9", "0x9", "9.0", "-9", "foo", '"1_0"')
    ],
]


@pytest.mark.parametrize(("offer", "error"), INVALID_PARAMS)
def test_server_declines_invalid_offers(offer: str, error: type[Exception]):
    # RFC 7692 §7: a server MUST decline such an offer (never fail the handshake); all of
    # these are NegotiationError, which the handshake treats as "try the next offer".
    with pytest.raises(error) as info:
        ServerPerMessageDeflateFactory().process_request_params(params(offer), [])
    assert isinstance(info.value, NegotiationError)


@pytest.mark.parametrize(
    ("response", "error"), [*INVALID_PARAMS, ("client_max_window_bits", InvalidParameterValue)]
)
def test_client_fails_on_invalid_responses(response: str, error: type[Exception]):
    # RFC 7692 §7: the client MUST fail the connection. client_max_window_bits has a value in
    # a response (RFC 7692 §7.1.2.2).
    with pytest.raises(error):
        ClientPerMessageDeflateFactory().process_response_params(params(response), [])


class OtherRsv1Extension(Extension):
    name = "x-other"
    rsv_bits = RSV1


def test_several_offers_first_acceptable_wins():
    header = (
        "permessage-deflate; server_max_window_bits=7, "  # invalid value: declined
        "permessage-deflate; foo, "  # unknown parameter: declined
        "permessage-deflate; client_max_window_bits; server_no_context_takeover, "
        "permessage-deflate"
    )
    factory = ServerPerMessageDeflateFactory(client_max_window_bits=11)
    accepted: list[Extension] = []
    answers = []
    for _, offer in parse_extension_list(header):  # what the handshake does
        try:
            answer, extension = factory.process_request_params(offer, accepted)
        except NegotiationError:
            continue
        accepted.append(extension)
        answers.append(text(answer))
    # Only one permessage-deflate can be accepted: the last offer is declined too.
    assert answers == ["server_no_context_takeover; client_max_window_bits=11"]


def test_no_second_permessage_deflate_and_no_rsv1_sharing():
    server, client = negotiate()
    for accepted in ([server], [OtherRsv1Extension()]):  # RFC 7692 §5
        with pytest.raises(NegotiationError):
            ServerPerMessageDeflateFactory().process_request_params([], accepted)
    for accepted in ([client], [OtherRsv1Extension()]):
        with pytest.raises(NegotiationError):
            ClientPerMessageDeflateFactory().process_response_params([], accepted)


def _offer(snct: bool, cnct: bool, sbits: int | None, cbits: int | bool | None) -> str:
    parts = ["server_no_context_takeover"] * snct + ["client_no_context_takeover"] * cnct
    parts += [f"server_max_window_bits={sbits}"] * (sbits is not None)
    parts += [f"client_max_window_bits{'' if cbits is True else f'={cbits}'}"] * (cbits is not None)
    return "; ".join(parts)


BOOLS = (False, True)
SERVER_CONFIGS = [
    config(*combo, require_client_max_window_bits=require)
    for *combo, require in itertools.product(BOOLS, BOOLS, (None, 10), (None, 10), BOOLS)
    if not (require and combo[3] is None)
]


@pytest.mark.parametrize("server_config", SERVER_CONFIGS)
def test_server_negotiation_matches_websockets(server_config: dict[str, Any]):
    """Every offer combination is answered as websockets does (8 bits aside: see the table)."""
    ours = ServerPerMessageDeflateFactory(**server_config)
    theirs = ws_pmd.ServerPerMessageDeflateFactory(**server_config)
    for combo in itertools.product(BOOLS, BOOLS, (None, 9, 12, 15), (None, True, 9, 12, 15)):
        offer = params(_offer(*combo))
        try:
            expected: Any = theirs.process_request_params(offer, [])
        except Exception:
            with pytest.raises(NegotiationError):
                ours.process_request_params(offer, [])
            continue
        answer, extension = ours.process_request_params(offer, [])
        assert (answer, summary(extension)) == (expected[0], summary(expected[1])), combo


CLIENT_CONFIGS = [config(*c) for c in itertools.product(BOOLS, BOOLS, (None, 10), (None, True, 10))]


@pytest.mark.parametrize("client_config", CLIENT_CONFIGS)
def test_client_negotiation_matches_websockets(client_config: dict[str, Any]):
    ours = ClientPerMessageDeflateFactory(**client_config)
    theirs = ws_pmd.ClientPerMessageDeflateFactory(**client_config)
    assert ours.get_request_params() == list(theirs.get_request_params())
    for combo in itertools.product(BOOLS, BOOLS, (None, 9, 10, 12), (None, 9, 10, 12)):
        response = params(_offer(*combo))
        try:
            expected = theirs.process_response_params(response, [])
        except Exception:
            with pytest.raises(NegotiationError):
                ours.process_response_params(response, [])
            continue
        assert summary(ours.process_response_params(response, [])) == summary(expected), combo


CLIENT_TABLE = [  # (client config, response, (remote nct, local nct, remote bits, local bits))
    ({}, "", (False, False, 15, 15)),
    ({}, "server_max_window_bits=8", (False, False, 8, 15)),
    ({}, "client_max_window_bits=8", (False, False, 15, 8)),  # websockets fails here
    ({"client_max_window_bits": None}, "client_max_window_bits=10", DECLINE),
    ({"client_max_window_bits": 10}, "", (False, False, 15, 10)),
    ({"client_max_window_bits": 10}, "client_max_window_bits=11", DECLINE),
    ({"server_max_window_bits": 10}, "", DECLINE),
    ({"server_max_window_bits": 10}, "server_max_window_bits=11", DECLINE),
    ({"server_no_context_takeover": True}, "", DECLINE),
    ({"client_no_context_takeover": True}, "", (False, True, 15, 15)),
]


@pytest.mark.parametrize(("client_config", "response", "expected"), CLIENT_TABLE)
def test_client_negotiation_table(client_config: dict[str, Any], response: str, expected: Any):
    factory = ClientPerMessageDeflateFactory(**client_config)
    if expected is DECLINE:
        with pytest.raises(NegotiationError):
            factory.process_response_params(params(response), [])
    else:
        assert summary(factory.process_response_params(params(response), [])) == expected


def test_default_offer_and_defaults():
    assert text(ClientPerMessageDeflateFactory().get_request_params()) == "client_max_window_bits"
    [server] = enable_server_permessage_deflate(None)
    assert isinstance(server, ServerPerMessageDeflateFactory)
    assert (server.server_max_window_bits, server.client_max_window_bits) == (12, 12)
    assert server.compress_settings == {"level": 6, "memLevel": 5}
    existing = ServerPerMessageDeflateFactory(server_no_context_takeover=True)
    assert enable_server_permessage_deflate([existing]) == [existing]
    [tuned] = enable_server_permessage_deflate([], compress_settings={"level": 1})
    assert tuned.compress_settings == {"level": 1, "memLevel": 5}
    [client] = enable_client_permessage_deflate([])
    assert isinstance(client, ClientPerMessageDeflateFactory)
    client_existing = ClientPerMessageDeflateFactory(client_max_window_bits=None)
    assert enable_client_permessage_deflate((client_existing,)) == [client_existing]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": 16},
        {"client_max_window_bits": 16},
        {"client_max_window_bits": True},
        {"require_client_max_window_bits": True},
        {"compress_settings": {"wbits": 9}},
        {"compress_settings": {"zdict": b""}},
        {"compress_settings": {"level": 10}},
        {"compress_settings": {"memLevel": 0}},
    ],
)
def test_factories_reject_bad_settings(kwargs: dict[str, Any]):
    with pytest.raises(ValueError):
        ServerPerMessageDeflateFactory(**kwargs)
    if "require_client_max_window_bits" not in kwargs and kwargs != {
        "client_max_window_bits": True
    }:
        with pytest.raises(ValueError):
            ClientPerMessageDeflateFactory(**kwargs)
    with pytest.raises(ValueError):
        PerMessageDeflate(False, False, 15, 7)
