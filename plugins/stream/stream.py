"""The stream object and its syscalls (zircon/kernel/lib/syscalls/stream.cc,
object/stream_dispatcher.cc).

A stream is a seek offset and a mode over a VMO; reads and writes go through the VMO
plugin's public API. The content size read and grown is the VMO's (shared with its
reference children), so `zx_vmo_get_stream_size` and ZX_PROP_VMO_CONTENT_SIZE see it.

Python shapes of the iovec syscalls: `vec` is a list or tuple. For writes, each element
is a bytes-like buffer; for reads, each element is a capacity (an int) or a writable buffer
(bytearray / writable memoryview) that is filled in order. `None` in `vec` stands for a
bad user pointer: the copy stops there (NOT_FOUND if nothing was copied, else a short
count), as Zircon's user copies do. Reads return the bytes read; writes the count written.
"""

from __future__ import annotations

from typing import Any

from microsim_vmo import Vmo

from microsim import zx
from microsim.core.handle import Handle
from microsim.core.object import KernelObject
from microsim.core.syscall import arg_i64, arg_size, arg_u32
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.objects.vmar import check_user_buffer

_U64 = (1 << 64) - 1
PAGE = zx.ZX_PAGE_SIZE
_INVALID = zx.ZX_ERR_INVALID_ARGS
_MODES = zx.ZX_STREAM_MODE_READ | zx.ZX_STREAM_MODE_WRITE


class Stream(KernelObject):
    """A stream: a seek offset and a mode over a VMO (which it keeps alive)."""

    obj_type = zx.ZX_OBJ_TYPE_STREAM
    type_name = "stream"
    default_rights = zx.ZX_DEFAULT_STREAM_RIGHTS

    __slots__ = ("append", "can_grow", "mode", "seek", "vmo")

    def __init__(self, kernel: Kernel, vmo: Vmo, mode: int, seek: int, can_grow: bool) -> None:
        super().__init__(kernel)
        self.vmo = vmo
        vmo.retain()
        self.mode = mode & _MODES
        self.append = bool(mode & zx.ZX_STREAM_MODE_APPEND)
        self.seek = seek
        self.can_grow = can_grow

    # ------------------------------------------------------------------ bytes
    def set_name(self, name: bytes) -> None:
        """Streams have no name (Property.NameWrongType): ZX_ERR_WRONG_TYPE."""
        raise ZxError(zx.ZX_ERR_WRONG_TYPE, "streams have no ZX_PROP_NAME")

    def get_name(self) -> bytes:
        """Streams have no name (Property.NameWrongType): ZX_ERR_WRONG_TYPE."""
        raise ZxError(zx.ZX_ERR_WRONG_TYPE, "streams have no ZX_PROP_NAME")

    def read_at(self, pos: int, capacity: int) -> bytes:
        """Up to `capacity` bytes at `pos`, stopping at the content size (and the VMO's end)."""
        vmo = self.vmo
        end = vmo.content_size
        size = vmo.size
        if size < end:
            end = size
        if pos >= end or capacity == 0:
            return b""
        n = end - pos
        if capacity < n:
            n = capacity
        if n > PAGE:  # a page-sized buffer always fits
            check_user_buffer(self.kernel, n)
        return vmo.read(pos, n)

    def write_at(self, pos: int, data: bytes, appending: bool) -> int:
        """Zircon's positioned (or, with `appending`, append) write path; returns the
        bytes written. Checks come first: OUT_OF_RANGE (append overflow, or growth past
        the maximum VMO size), FILE_BIG (positioned overflow), NO_SPACE (nothing fits and
        the VMO cannot grow); a refused write changes nothing."""
        vmo = self.vmo
        length = len(data)
        if pos + length > _U64:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE if appending else zx.ZX_ERR_FILE_BIG,
                          "the write would pass 2**64")
        end = pos + length
        old_size = size = vmo.size
        if end > size:
            if self.can_grow:
                vmo.expand(end)  # OUT_OF_RANGE before any change if too large
                size = vmo.size
            if end > size:
                if size <= pos:
                    raise ZxError(zx.ZX_ERR_NO_SPACE, "the VMO is full and cannot grow")
                length = size - pos
                data = data[:length]
        try:
            vmo.write(pos, data)
        except ZxError:
            vmo.undo_expand(old_size)
            raise
        old_content = vmo.content_size
        if old_content < pos:
            vmo.zero_range(old_content, min(pos, size) - old_content)
        if pos + length > old_content:
            vmo.set_content_size(pos + length)
        return length

    def info(self) -> zx.zx_info_stream_t:
        """The ZX_INFO_STREAM record."""
        options = self.mode | (zx.ZX_STREAM_MODE_APPEND if self.append else 0)
        return zx.zx_info_stream_t(options=options, seek=self.seek, content_size=self.vmo.content_size)

    def on_destroy(self) -> None:
        self.vmo.release()

    def describe(self) -> dict[str, Any]:
        return {"vmo": self.vmo.koid, "seek": self.seek, "append": self.append}


# --------------------------------------------------------------------------- iovecs
def _vec(vec: Any) -> list[Any] | tuple[Any, ...]:
    """The pre-lookup check: a NULL (None) or non-sequence vector is INVALID_ARGS."""
    if type(vec) is not list and not isinstance(vec, (list, tuple)):
        raise ZxError(_INVALID, "vec must be a list or tuple of iovecs")
    return vec


def _write_data(vec: list[Any] | tuple[Any, ...]) -> tuple[bytes, bool]:
    """(the bytes before the first bad buffer, whether a bad buffer was hit)."""
    if len(vec) == 1 and type(vec[0]) is bytes:  # the common case: one buffer
        return vec[0], False
    parts: list[bytes] = []
    total = 0
    bad = False
    for e in vec:
        if e is None:
            bad = True
            continue
        if not isinstance(e, (bytes, bytearray, memoryview)):
            raise ZxError(_INVALID, f"an iovec must be bytes-like, got {type(e).__name__}")
        total += len(e)
        if not bad:
            parts.append(bytes(e))
    if total > _U64:
        raise ZxError(_INVALID, "the iovec capacities overflow")
    return b"".join(parts), bad


def _read_caps(vec: list[Any] | tuple[Any, ...]) -> tuple[int, bool, int]:
    """(capacity before the first bad buffer, whether one follows, total capacity)."""
    if len(vec) == 1 and type(vec[0]) is int and 0 <= vec[0] <= _U64:  # one capacity
        return vec[0], False, vec[0]
    usable = 0
    total = 0
    bad = False
    for e in vec:
        if e is None:
            bad = True
            continue
        if type(e) is int:
            if e < 0 or e > _U64:
                raise ZxError(_INVALID, "an iovec capacity must be a uint64")
            cap = e
        elif isinstance(e, bytearray) or (
            isinstance(e, memoryview) and not e.readonly and e.format == "B" and e.ndim == 1
        ):
            cap = len(e)
        else:
            raise ZxError(_INVALID, f"a read iovec is a capacity or a writable buffer, not {type(e).__name__}")
        total += cap
        if not bad:
            usable += cap
    if total > _U64:
        raise ZxError(_INVALID, "the iovec capacities overflow")
    return usable, bad, total


def _fill(vec: list[Any] | tuple[Any, ...], data: bytes) -> None:
    pos = 0
    for e in vec:
        if e is None or pos >= len(data):
            return
        if type(e) is not int:
            n = min(len(e), len(data) - pos)
            e[:n] = data[pos : pos + n]
            pos += n
        else:
            pos += e


# --------------------------------------------------------------------------- syscalls
def sys_stream_create(p: Process, options: int, vmo: int, seek: int) -> int:
    """zx_stream_create: a stream over `vmo` with ZX_STREAM_MODE_READ / WRITE / APPEND.

    Order: unknown option bits (INVALID_ARGS, before the lookup); the VMO handle needs READ
    for MODE_READ and WRITE for MODE_WRITE; memory without a stream size is WRONG_TYPE.
    The stream may grow the VMO only if it is resizable and the handle has ZX_RIGHT_RESIZE.
    Rights: ZX_DEFAULT_STREAM_RIGHTS plus READ / WRITE per mode. `seek` is not validated.
    """
    options = arg_u32(options)
    if options & ~zx.ZX_STREAM_CREATE_MASK:
        raise ZxError(_INVALID, f"unknown stream options {options:#x}")
    need = (zx.ZX_RIGHT_READ if options & zx.ZX_STREAM_MODE_READ else 0) | (
        zx.ZX_RIGHT_WRITE if options & zx.ZX_STREAM_MODE_WRITE else 0
    )
    h = p.lookup(vmo, Vmo, need)
    seek = arg_size(seek)
    obj: Vmo = h.obj
    if obj.stream_size() is None:
        raise ZxError(zx.ZX_ERR_WRONG_TYPE, "the VMO cannot back a stream")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("object")
        k.mem.alloc("handle")
    can_grow = obj.resizable and bool(h.rights & zx.ZX_RIGHT_RESIZE)
    stream = Stream(k, obj, options, seek, can_grow)
    rights = Stream.default_rights
    if options & zx.ZX_STREAM_MODE_READ:
        rights |= zx.ZX_RIGHT_READ
    if options & zx.ZX_STREAM_MODE_WRITE:
        rights |= zx.ZX_RIGHT_WRITE
    k.publish(stream, p.koid)
    return k.new_handle(p, stream, rights, reserved=True)


def _readv(p: Process, handle: int, options: int, vec: Any, offset: int | None) -> bytes:
    options = arg_u32(options)
    if options != 0:
        raise ZxError(_INVALID, "readv takes no options")
    vec = _vec(vec)
    s: Stream = p.obj(handle, Stream, zx.ZX_RIGHT_READ)
    pos = s.seek if offset is None else arg_size(offset)
    usable, bad, total = _read_caps(vec)
    if total == 0 and not bad:
        return b""
    data = s.read_at(pos, usable)
    if bad and not data and pos < s.vmo.content_size:
        raise ZxError(zx.ZX_ERR_NOT_FOUND, "the first buffer is not in the address space")
    if len(vec) != 1 or type(vec[0]) is not int:
        _fill(vec, data)
    if offset is None:
        s.seek = pos + len(data)
    return data


def sys_stream_readv(p: Process, handle: int, options: int, vec: Any) -> bytes:
    """zx_stream_readv: read at the seek offset up to the content size; advances the seek.

    `options` must be 0 and `vec` a list (INVALID_ARGS, before the lookup); the handle
    needs READ. Capacities overflowing 64 bits are INVALID_ARGS; a total of 0 reads nothing.
    At or past the content size the read returns no bytes (OK).
    """
    return _readv(p, handle, options, vec, None)


def sys_stream_readv_at(p: Process, handle: int, options: int, offset: int, vec: Any) -> bytes:
    """zx_stream_readv_at: like zx_stream_readv at `offset`; the seek offset is unchanged."""
    return _readv(p, handle, options, vec, offset)


def _writev(p: Process, handle: int, vec: Any, offset: int | None, append: bool) -> int:
    vec = _vec(vec)
    s: Stream = p.obj(handle, Stream, zx.ZX_RIGHT_WRITE)
    pos_arg = None if offset is None else arg_size(offset)
    data, bad = _write_data(vec)
    if not data:
        if bad:
            raise ZxError(zx.ZX_ERR_NOT_FOUND, "the first buffer is not in the address space")
        return 0
    appending = offset is None and (append or s.append)
    pos = pos_arg if pos_arg is not None else (s.vmo.content_size if appending else s.seek)
    written = s.write_at(pos, data, appending)
    if offset is None:
        s.seek = pos + written
    return written


def sys_stream_writev(p: Process, handle: int, options: int, vec: Any) -> int:
    """zx_stream_writev: write at the seek offset (or append); returns the bytes written.

    Options other than ZX_STREAM_APPEND, or a non-list `vec`, are INVALID_ARGS before the
    lookup; the handle needs WRITE. Appends (ZX_STREAM_APPEND or append mode) write at the
    content size. Writing past the VMO grows it when the stream may (else the write is
    cut at the VMO's end, NO_SPACE if nothing fits); the gap from the old content size is
    zeroed; the content size grows to the end of the write; the seek moves past it.
    """
    options = arg_u32(options)
    if options & ~zx.ZX_STREAM_APPEND:
        raise ZxError(_INVALID, f"unknown writev options {options:#x}")
    return _writev(p, handle, vec, None, bool(options & zx.ZX_STREAM_APPEND))


def sys_stream_writev_at(p: Process, handle: int, options: int, offset: int, vec: Any) -> int:
    """zx_stream_writev_at: a positioned write at `offset` (never appends); the seek offset
    is unchanged. `options` must be 0 (INVALID_ARGS)."""
    options = arg_u32(options)
    if options != 0:
        raise ZxError(_INVALID, "writev_at takes no options")
    return _writev(p, handle, vec, offset, False)


def sys_stream_seek(p: Process, handle: int, whence: int, offset: int) -> int:
    """zx_stream_seek: set the seek offset from START, CURRENT or END (the content size);
    returns it. The handle needs READ or WRITE (ACCESS_DENIED); a result outside
    [0, 2**64) or an unknown `whence` is INVALID_ARGS. Seeking past the content is allowed."""
    h = p.lookup(handle, Stream, 0)
    if not h.rights & (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE):
        raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "the handle needs READ or WRITE")
    whence = arg_u32(whence)
    offset = arg_i64(offset)
    s: Stream = h.obj
    if whence == zx.ZX_STREAM_SEEK_ORIGIN_START:
        base = 0
    elif whence == zx.ZX_STREAM_SEEK_ORIGIN_CURRENT:
        base = s.seek
    elif whence == zx.ZX_STREAM_SEEK_ORIGIN_END:
        base = s.vmo.content_size
    else:
        raise ZxError(_INVALID, f"unknown whence {whence}")
    new = base + offset
    if new < 0 or new > _U64:
        raise ZxError(_INVALID, "the seek offset would leave [0, 2**64)")
    s.seek = new
    return new


# --------------------------------------------------------------------------- info, property
def info_stream(p: Process, h: Handle, buffer_size: int | None) -> zx.zx_info_stream_t:
    """ZX_INFO_STREAM: mode, seek offset and content size."""
    if buffer_size is not None and buffer_size < zx.zx_info_stream_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    s: Stream = h.obj
    return s.info()


def prop_append_get(p: Process, h: Handle, value_size: int | None) -> int:
    """ZX_PROP_STREAM_MODE_APPEND get: 1 in append mode, else 0 (uint8)."""
    if value_size is not None and value_size < 1:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)
    if not isinstance(h.obj, Stream):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    return int(h.obj.append)


def prop_append_set(p: Process, h: Handle, value: Any) -> None:
    """ZX_PROP_STREAM_MODE_APPEND set: a uint8 (an int, or bytes whose first byte counts);
    non-zero turns append mode on. Empty bytes: BUFFER_TOO_SMALL."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) < 1:
            raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL)
        value = value[0]
    if type(value) is bool:
        value = int(value)
    if type(value) is not int or not 0 <= value <= 255:
        raise ZxError(_INVALID, "the value is a uint8")
    if not isinstance(h.obj, Stream):
        raise ZxError(zx.ZX_ERR_WRONG_TYPE)
    h.obj.append = bool(value)


SYSCALLS = {
    "zx_stream_create": sys_stream_create,
    "zx_stream_readv": sys_stream_readv,
    "zx_stream_readv_at": sys_stream_readv_at,
    "zx_stream_writev": sys_stream_writev,
    "zx_stream_writev_at": sys_stream_writev_at,
    "zx_stream_seek": sys_stream_seek,
}
