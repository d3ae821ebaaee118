"""The public ABI helpers of `microsim.zx` a plugin uses for its own types."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import ClassVar

import pytest

from microsim import ZxError, zx
from microsim.errors import ZxError as ErrorsZxError


@dataclass(slots=True)
class sem_info_t(zx.Struct):
    FORMAT: ClassVar[str] = "<QI4x"
    count: int = 0
    waiters: int = 0


def test_a_plugin_struct_packs_and_sizes() -> None:
    assert sem_info_t.SIZE == 16
    s = sem_info_t(count=3, waiters=1)
    data = s.pack()
    assert len(data) == 16 and data[:8] == (3).to_bytes(8, "little")
    assert sem_info_t.unpack(data) == s
    with pytest.raises(ValueError):
        sem_info_t.unpack(data[:8])
    # The old private spelling still works and is the same class.
    assert zx._Struct is zx.Struct and issubclass(zx.zx_info_handle_basic_t, zx.Struct)
    assert zx.zx_info_handle_basic_t.SIZE == 32 and zx.zx_info_handle_basic_t.FORMAT == "<QIIQI4x"


def test_buffer_checks() -> None:
    sem_info_t.check_buffer(None)
    sem_info_t.check_buffer(16)
    with pytest.raises(ZxError) as err:
        sem_info_t.check_buffer(15)
    assert err.value.status == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert (err.value.actual, err.value.avail) == (0, 1)
    records = [sem_info_t(i) for i in range(5)]
    clipped = sem_info_t.clip(records, 40)
    assert list(clipped) == records[:2] and (clipped.actual, clipped.avail) == (2, 5)
    assert sem_info_t.clip(records, None).actual == 5
    assert sem_info_t.clip(records, 0).actual == 0
    with pytest.raises(ZxError):
        zx.check_buffer(8, 4)
    assert ZxError is ErrorsZxError


def test_signal_bits_and_ranges_are_named() -> None:
    assert zx.ZX_OBJECT_SIGNAL_4 == 1 << 4 and zx.ZX_OBJECT_SIGNAL_22 == 1 << 22
    named = [getattr(zx, f"ZX_OBJECT_SIGNAL_{i}") for i in range(4, 23)]
    assert sum(named) & (zx.ZX_USER_SIGNAL_ALL | zx.ZX_SIGNAL_HANDLE_CLOSED) == 0
    assert zx.MICROSIM_OBJ_TYPE_LAST < zx.ZX_OBJ_TYPE_UPPER_BOUND
    assert zx.ZX_OBJ_TYPE_IOB_SHARED_REGION < zx.MICROSIM_OBJ_TYPE_FIRST
    assert zx.ZX_THREAD_STATE_BLOCKED_WAIT_ONE == 0x0603


def test_zx_error_fields_text_and_pickling() -> None:
    plain = ZxError(zx.ZX_ERR_BAD_STATE)
    assert (plain.status, plain.name, plain.out, plain.args) == (
        zx.ZX_ERR_BAD_STATE, "ZX_ERR_BAD_STATE", {}, ("ZX_ERR_BAD_STATE",))
    err = ZxError(zx.ZX_ERR_TIMED_OUT, "too late", observed=5)
    assert str(err) == "ZX_ERR_TIMED_OUT: too late" and err.observed == 5 and err.out == {"observed": 5}
    assert ZxError(-12345).name == "(UNKNOWN)"
    plain.out["x"] = 1  # each instance has its own `out`
    assert ZxError(zx.ZX_ERR_BAD_STATE).out == {}
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.status, back.args, back.observed) == (ZxError, err.status, err.args, 5)
    with pytest.raises(ZxError) as raised:
        raise ZxError(zx.ZX_ERR_BAD_STATE)
    assert raised.value.status == zx.ZX_ERR_BAD_STATE and raised.value.__traceback__ is not None
