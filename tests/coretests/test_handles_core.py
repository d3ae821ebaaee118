"""Ports of Zircon's core-tests for handles, properties and object info on VM objects:
handle-dup/handle-dup.cc (HandleDup.*), handle-info (HandleInfoTest.*), handle-close
(HandleCloseTest.*), handle-transfer/handle-transfer.cc (HandleTransferTest.OverChannelThenRead),
property/property.cc (Property.*) and object-info/vmar-object-info-test.cc (VmarGetInfoTest.*).

Not ported: HandleTransferTest.CancelsWait and Property.ThreadName / JobName (need thread and
job handles), the bad user-pointer cases of the object-info helpers (InvalidBufferPointer,
BadActual, BadAvail: no user pointers in the API).
"""

from __future__ import annotations

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("handles-core")



def valid(p: Process, h: int) -> bool:
    try:
        p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_VALID)
    except ZxError:
        return False
    return True


# ----------------------------------------------------------------------------- HandleDup
def test_replace_success_orig_invalid(p: Process) -> None:
    ev = p.zx.event_create(0)
    new = p.zx.handle_replace(ev, zx.ZX_RIGHTS_BASIC)
    assert not valid(p, ev) and valid(p, new)


def test_replace_failure_both_invalid(p: Process) -> None:
    ev = p.zx.event_create(0)
    assert status(p.zx.handle_replace, ev, zx.ZX_RIGHT_EXECUTE) == zx.ZX_ERR_INVALID_ARGS
    assert not valid(p, ev)


# ----------------------------------------------------------------------- HandleTransferTest
def test_over_channel_then_read(p: Process) -> None:
    a_client, a_remote = p.zx.channel_create(0)
    b_client, b_remote = p.zx.channel_create(0)
    msg = b"\x00\x01\x02"
    p.zx.channel_write(a_client, 0, msg[0:1], [])
    p.zx.channel_write(b_client, 0, b"", [a_remote])
    assert not valid(p, a_remote)
    p.zx.channel_write(a_client, 0, msg[1:2], [])
    data, handles = p.zx.channel_read(b_remote, 0, 0, 1)
    assert data == b"" and len(handles) == 1
    a_remote = handles[0]
    assert valid(p, a_remote)
    p.zx.channel_write(a_client, 0, msg[2:3], [])
    for i in range(3):
        data, handles = p.zx.channel_read(a_remote, 0, 1, 0)
        assert data == msg[i : i + 1] and handles == []


# ------------------------------------------------------------------------------ Property
def _name_property(p: Process, obj: int) -> None:
    n = zx.ZX_MAX_NAME_LEN

    def get() -> bytes:
        name = p.zx.object_get_property(obj, zx.ZX_PROP_NAME, n)
        return name.encode() if isinstance(name, str) else bytes(name)

    p.zx.object_set_property(obj, zx.ZX_PROP_NAME, b"A\0" + b"A" * (n - 2))  # garbage after the NUL
    assert get().rstrip(b"\0") == b"A"
    p.zx.object_set_property(obj, zx.ZX_PROP_NAME, b"")
    assert get().rstrip(b"\0") == b""
    p.zx.object_set_property(obj, zx.ZX_PROP_NAME, b"x" * (n - 1))
    assert get().rstrip(b"\0") == b"x" * (n - 1)
    p.zx.object_set_property(obj, zx.ZX_PROP_NAME, b"x" * n)  # one too long: truncated
    assert get().rstrip(b"\0") == b"x" * (n - 1)
    r = p.zx.object_get_info(obj, zx.ZX_INFO_HANDLE_BASIC).rights
    cant_set = p.zx.handle_duplicate(obj, r & ~zx.ZX_RIGHT_SET_PROPERTY)
    assert status(p.zx.object_set_property, cant_set, zx.ZX_PROP_NAME, b"") == zx.ZX_ERR_ACCESS_DENIED
    p.zx.handle_close(cant_set)


def test_process_name(p: Process) -> None:
    _name_property(p, p.self_handle)


def test_vmo_name(p: Process) -> None:
    v = p.zx.vmo_create(16, 0)
    assert p.zx.object_get_property(v, zx.ZX_PROP_NAME, zx.ZX_MAX_NAME_LEN) in (b"", "")
    _name_property(p, v)


def test_socket_buffer(p: Process) -> None:
    s0, s1 = p.zx.socket_create(0)
    assert p.zx.socket_write(s1, 0, bytes(8)) == 8
    i = p.zx.object_get_info(s0, zx.ZX_INFO_SOCKET)
    assert i.options == 0 and i.rx_buf_max > 0 and i.rx_buf_size == 8 and i.rx_buf_available == 8
    assert i.tx_buf_max > 0 and i.tx_buf_size == 0
    i = p.zx.object_get_info(s1, zx.ZX_INFO_SOCKET)
    assert i.options == 0 and i.rx_buf_max > 0 and i.rx_buf_size == 0 and i.rx_buf_available == 0
    assert i.tx_buf_max > 0 and i.tx_buf_size == 8
    p.zx.handle_close(s0)
    i = p.zx.object_get_info(s1, zx.ZX_INFO_SOCKET)
    assert (i.options, i.rx_buf_size, i.rx_buf_available, i.tx_buf_max, i.tx_buf_size) == (0, 0, 0, 0, 0)
    assert i.rx_buf_max > 0
    p.zx.handle_close(s1)
    s0, s1 = p.zx.socket_create(zx.ZX_SOCKET_DATAGRAM)
    i = p.zx.object_get_info(s0, zx.ZX_INFO_SOCKET)
    assert i.options == zx.ZX_SOCKET_DATAGRAM and (i.rx_buf_size, i.rx_buf_available, i.tx_buf_size) == (0, 0, 0)
    assert i.rx_buf_max > 0 and i.tx_buf_max > 0
    p.zx.socket_write(s1, 0, bytes(8))
    i = p.zx.object_get_info(s0, zx.ZX_INFO_SOCKET)
    assert (i.rx_buf_size, i.rx_buf_available, i.tx_buf_size) == (8, 8, 0)
    p.zx.socket_write(s1, 0, bytes(4))
    i = p.zx.object_get_info(s0, zx.ZX_INFO_SOCKET)
    assert (i.rx_buf_size, i.rx_buf_available, i.tx_buf_size) == (12, 8, 0)
    p.zx.handle_close_many([s0, s1])


def test_name_wrong_type(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    s = p.zx.stream_create(0, v, 0)
    n = zx.ZX_MAX_NAME_LEN
    assert status(p.zx.object_get_property, s, zx.ZX_PROP_NAME, n) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.object_set_property, s, zx.ZX_PROP_NAME, bytes(n)) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.object_get_property, s, zx.ZX_PROP_NAME, n) == zx.ZX_ERR_WRONG_TYPE
    name = p.zx.object_get_property(v, zx.ZX_PROP_NAME, n)
    p.zx.object_set_property(v, zx.ZX_PROP_NAME, bytes(n))
    assert p.zx.object_get_property(v, zx.ZX_PROP_NAME, n) == name


# ---------------------------------------------------------------------- VmarGetInfoTest
@pytest.mark.parametrize("topic", [zx.ZX_INFO_HANDLE_BASIC, zx.ZX_INFO_VMAR])
def test_vmar_get_info(p: Process, topic: int) -> None:
    """InfoHandleBasic* / InfoVmar*: on self, invalid handle, zero-sized buffer."""
    vmar = p.root_vmar_handle
    p.zx.object_get_info(vmar, topic)
    p.zx.object_get_info(vmar, topic, 64)
    assert status(p.zx.object_get_info, zx.ZX_HANDLE_INVALID, topic) == zx.ZX_ERR_BAD_HANDLE
    with pytest.raises(ZxError) as e:
        p.zx.object_get_info(vmar, topic, 0)
    assert e.value.status == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert e.value.actual == 0 and e.value.avail > 0


def test_info_vmar_wrong_handle_type_fails(p: Process) -> None:
    """InfoVmarProcessHandleIsBadHandle (and the job/thread ones: any non-VMAR handle)."""
    assert status(p.zx.object_get_info, p.self_handle, zx.ZX_INFO_VMAR) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.object_get_info, p.zx.vmo_create(P, 0), zx.ZX_INFO_VMAR) == zx.ZX_ERR_WRONG_TYPE


# ---------------------------------------------------------------------------- HandleInfoTest
def test_dup_and_info_rights(p: Process) -> None:
    orig = p.zx.event_create(0)
    dup = p.zx.handle_duplicate(orig, zx.ZX_RIGHT_SAME_RIGHTS)
    p.zx.object_get_info(orig, zx.ZX_INFO_HANDLE_VALID)
    p.zx.handle_close(orig)
    assert status(p.zx.object_get_info, orig, zx.ZX_INFO_HANDLE_VALID) == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.object_get_info, dup, zx.ZX_INFO_HANDLE_BASIC, 4) == zx.ZX_ERR_BUFFER_TOO_SMALL
    info = p.zx.object_get_info(dup, zx.ZX_INFO_HANDLE_BASIC)
    assert info.koid > 0 and info.type == zx.ZX_OBJ_TYPE_EVENT
    assert info.rights == zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHT_SIGNAL
    assert info.related_koid == 0


def test_related_koid(p: Process) -> None:
    """The socket half of HandleInfoTest.RelatedKoid (job/thread handles are #12's)."""
    a, b = p.zx.socket_create(0)
    ia = p.zx.object_get_info(a, zx.ZX_INFO_HANDLE_BASIC)
    ib = p.zx.object_get_info(b, zx.ZX_INFO_HANDLE_BASIC)
    assert ia.type == ib.type == zx.ZX_OBJ_TYPE_SOCKET
    assert ia.related_koid == ib.koid and ib.related_koid == ia.koid
    ip = p.zx.object_get_info(p.self_handle, zx.ZX_INFO_HANDLE_BASIC)
    assert ip.type == zx.ZX_OBJ_TYPE_PROCESS


def test_duplicate_rights(p: Process) -> None:
    orig = p.zx.event_create(0)
    ro1 = p.zx.handle_duplicate(orig, zx.ZX_RIGHT_WAIT)
    ro2 = p.zx.handle_duplicate(orig, zx.ZX_RIGHT_WAIT)
    assert p.zx.object_get_info(ro1, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_RIGHT_WAIT
    assert status(p.zx.handle_duplicate, ro1, zx.ZX_RIGHT_SAME_RIGHTS) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.handle_duplicate, orig, zx.ZX_RIGHT_EXECUTE | zx.ZX_RIGHT_WAIT) == zx.ZX_ERR_INVALID_ARGS
    assert valid(p, orig) and valid(p, ro1) and valid(p, ro2)


def test_replace_rights(p: Process) -> None:
    e1 = p.zx.event_create(0)
    e2 = p.zx.handle_replace(e1, zx.ZX_RIGHT_WAIT)
    assert p.zx.object_get_info(e2, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_RIGHT_WAIT
    assert not valid(p, e1)
    assert status(p.zx.handle_replace, e2, zx.ZX_RIGHT_SIGNAL | zx.ZX_RIGHT_WAIT) == zx.ZX_ERR_INVALID_ARGS
    assert not valid(p, e2)


# --------------------------------------------------------------------------- HandleCloseTest
def _peer_closed(p: Process, h: int) -> bool:
    return bool(p.zx.object_wait_one(h, zx.ZX_EVENTPAIR_PEER_CLOSED, 0) & zx.ZX_EVENTPAIR_PEER_CLOSED)


def test_many(p: Process) -> None:
    pairs = [p.zx.eventpair_create(0) for _ in range(4)]
    p.zx.handle_close_many([a for a, _ in pairs])
    assert all(_peer_closed(p, b) for _, b in pairs)


def test_many_invalid_handles_should_not_fail(p: Process) -> None:
    pairs = [p.zx.eventpair_create(0) for _ in range(4)]
    p.zx.handle_close_many([a for a, _ in pairs] + [zx.ZX_HANDLE_INVALID] * 2)
    assert all(_peer_closed(p, b) for _, b in pairs)


def test_many_duplicate_test(p: Process) -> None:
    pairs = [p.zx.eventpair_create(0) for _ in range(4)]
    hs = [a for a, _ in pairs]
    assert status(p.zx.handle_close_many, [hs[0], hs[1], *hs]) == zx.ZX_ERR_BAD_HANDLE
    assert all(_peer_closed(p, b) for _, b in pairs)


def test_regression_test_479281267(p: Process) -> None:
    pairs = [p.zx.eventpair_create(0) for _ in range(64)]
    assert status(p.zx.handle_close_many, [0xBADC0FFE] + [a for a, _ in pairs]) == zx.ZX_ERR_BAD_HANDLE
    assert all(_peer_closed(p, b) for _, b in pairs)
