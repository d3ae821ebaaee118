"""Zircon exceptions: channels, the exception object, handler order and dispositions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from microsim_channel import MAX_PENDING_MESSAGES

from microsim import Kernel, MemoryFault, ZxError, vdso, zx
from microsim.testing.calls import status

INF = zx.ZX_TIME_INFINITE



@pytest.fixture
def k() -> Any:
    with Kernel(seed=5, check_invariants=True) as kernel:
        yield kernel


@pytest.fixture
def host(k: Kernel) -> Any:
    return k.create_process("host")


def start(host: Any, body: Callable[..., Any], job: int | None = None) -> tuple[int, int]:
    proc, vmar = host.zx.process_create(job or host.zx.job_default(), "crashy", 0)
    thr = host.zx.thread_create(proc, "main", 0)
    host.zx.handle_close(vmar)
    return proc, thr


def crash(a: Any, b: Any) -> None:
    raise ValueError("bad value")


def pending(host: Any, h: int) -> int:
    try:
        return host.zx.object_wait_one(h, zx.ZX_USER_SIGNAL_7, 0)  # type: ignore[no-any-return]
    except ZxError as e:
        return e.observed  # type: ignore[no-any-return]


def read_exception(host: Any, ch: int) -> tuple[Any, int]:
    host.zx.object_wait_one(ch, zx.ZX_CHANNEL_READABLE, INF)
    data, handles = host.zx.channel_read(ch, 0)
    assert len(handles) == 1
    return zx.zx_exception_info_t.unpack(data), handles[0]


def test_channel_rights_and_errors(k: Kernel, host: Any) -> None:
    proc, thr = start(host, crash)
    ch = host.zx.task_create_exception_channel(proc, 0)
    assert host.zx.object_get_info(ch, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_EXCEPTION_CHANNEL_RIGHTS
    assert status(host.zx.task_create_exception_channel, proc, 0) == zx.ZX_ERR_ALREADY_BOUND
    host.zx.handle_close(ch)  # a closed user end frees the slot
    ch = host.zx.task_create_exception_channel(proc, 0)
    assert status(host.zx.task_create_exception_channel, proc, 2) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.task_create_exception_channel, thr, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER) == (
        zx.ZX_ERR_INVALID_ARGS)
    assert status(host.zx.task_create_exception_channel, 99, 0) == zx.ZX_ERR_BAD_HANDLE
    vmo = host.zx.vmo_create(0, 0)
    assert status(host.zx.task_create_exception_channel, vmo, 0) == zx.ZX_ERR_ACCESS_DENIED
    full = zx.ZX_RIGHT_INSPECT | zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_TRANSFER | zx.ZX_RIGHT_MANAGE_THREAD
    ev = host.zx.port_create(0)  # a non-task with enough rights? ports lack MANAGE_THREAD
    assert status(host.zx.task_create_exception_channel, ev, 0) == zx.ZX_ERR_ACCESS_DENIED
    no_enum = host.zx.handle_duplicate(proc, full)
    assert status(host.zx.task_create_exception_channel, no_enum, 0) == zx.ZX_ERR_ACCESS_DENIED
    weak = host.zx.handle_duplicate(proc, zx.ZX_DEFAULT_PROCESS_RIGHTS & ~zx.ZX_RIGHT_MANAGE_THREAD)
    assert status(host.zx.task_create_exception_channel, weak, 0) == zx.ZX_ERR_ACCESS_DENIED
    tch = host.zx.task_create_exception_channel(thr, 0)
    # Death closes the channels (PEER_CLOSED) and no new one can be bound.
    host.zx.task_kill(proc)
    assert host.zx.object_wait_one(ch, zx.ZX_CHANNEL_PEER_CLOSED, 0) & zx.ZX_CHANNEL_PEER_CLOSED
    assert status(host.zx.task_create_exception_channel, proc, 0) == zx.ZX_ERR_BAD_STATE
    host.zx.handle_close(tch)


def test_thread_channel_first_then_process_then_job(k: Kernel, host: Any) -> None:
    job = host.zx.job_create(host.zx.job_default(), 0)
    proc, thr = start(host, crash, job)
    jch = host.zx.task_create_exception_channel(job, 0)
    pch = host.zx.task_create_exception_channel(proc, 0)
    tch = host.zx.task_create_exception_channel(thr, 0)
    host.zx.process_start(proc, thr, crash, 0, 0, 0)
    seen = []
    for ch, kind in ((tch, zx.ZX_EXCEPTION_CHANNEL_TYPE_THREAD), (pch, zx.ZX_EXCEPTION_CHANNEL_TYPE_PROCESS),
                     (jch, zx.ZX_EXCEPTION_CHANNEL_TYPE_JOB)):
        info, exc = read_exception(host, ch)
        assert info.type == zx.ZX_EXCP_GENERAL
        assert info.pid == host.zx.object_get_info(proc, zx.ZX_INFO_HANDLE_BASIC).koid
        assert info.tid == host.zx.object_get_info(thr, zx.ZX_INFO_HANDLE_BASIC).koid
        tinfo = host.zx.object_get_info(thr, zx.ZX_INFO_THREAD)
        assert tinfo.state == zx.ZX_THREAD_STATE_BLOCKED_EXCEPTION
        assert tinfo.wait_exception_channel_type == kind
        basic = host.zx.object_get_info(exc, zx.ZX_INFO_HANDLE_BASIC)
        assert basic.type == zx.ZX_OBJ_TYPE_EXCEPTION and basic.rights == zx.ZX_DEFAULT_EXCEPTION_RIGHTS
        assert host.zx.object_get_property(exc, zx.ZX_PROP_EXCEPTION_STATE) == zx.ZX_EXCEPTION_STATE_TRY_NEXT
        seen.append(kind)
        if kind == zx.ZX_EXCEPTION_CHANNEL_TYPE_THREAD:
            assert status(host.zx.exception_get_process, exc) == zx.ZX_ERR_ACCESS_DENIED
        else:
            ph = host.zx.exception_get_process(exc)
            assert host.zx.object_get_info(ph, zx.ZX_INFO_HANDLE_BASIC).koid == info.pid
            host.zx.handle_close(ph)
        th = host.zx.exception_get_thread(exc)
        assert host.zx.object_get_info(th, zx.ZX_INFO_HANDLE_BASIC).koid == info.tid
        assert host.zx.thread_read_state(th, zx.ZX_THREAD_STATE_GENERAL_REGS, 160) == bytes(160)
        host.zx.handle_close(th)
        host.zx.handle_close(exc)  # TRY_NEXT: the next handler gets it
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    pinfo = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS)
    assert pinfo.return_code == zx.ZX_TASK_RETCODE_EXCEPTION_KILL and pinfo.flags == 3
    assert len(seen) == 3


def test_unhandled_exception_kills_process_and_closing_unread_channel_passes_on(
    k: Kernel, host: Any,
) -> None:
    proc, thr = start(host, crash)
    pch = host.zx.task_create_exception_channel(proc, 0)
    host.zx.process_start(proc, thr, crash, 0, 0, 0)
    host.zx.object_wait_one(pch, zx.ZX_CHANNEL_READABLE, INF)
    host.zx.handle_close(pch)  # unread message: its exception is closed = TRY_NEXT
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == zx.ZX_TASK_RETCODE_EXCEPTION_KILL


def test_thread_exit_disposition_ends_only_that_thread(k: Kernel, host: Any) -> None:
    done: list[str] = []

    def survivor(a: Any, b: Any) -> None:
        vdso().nanosleep(vdso().deadline_after(1_000_000))
        done.append("survivor")

    proc, thr = start(host, crash)
    other = host.zx.thread_create(proc, "other", 0)
    pch = host.zx.task_create_exception_channel(proc, 0)
    host.zx.process_start(proc, other, survivor, 0, 0, 0)
    host.zx.thread_start(thr, crash, 0, 0, 0)
    _, exc = read_exception(host, pch)
    assert status(host.zx.object_set_property, exc, zx.ZX_PROP_EXCEPTION_STATE, 7) == zx.ZX_ERR_INVALID_ARGS
    host.zx.object_set_property(exc, zx.ZX_PROP_EXCEPTION_STATE, zx.ZX_EXCEPTION_STATE_THREAD_EXIT)
    assert host.zx.object_get_property(exc, zx.ZX_PROP_EXCEPTION_STATE) == zx.ZX_EXCEPTION_STATE_THREAD_EXIT
    host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert done == ["survivor"]
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 0


def test_page_fault_is_retried_after_handled(k: Kernel, host: Any) -> None:
    got: list[bytes] = []
    proc, thr = start(host, crash)
    child = k.objects[host.zx.object_get_info(proc, zx.ZX_INFO_HANDLE_BASIC).koid]
    addr = child.root_vmar.base + 0x10000

    def reader(a: Any, b: Any) -> None:
        got.append(child.read_memory(addr, 4))

    pch = host.zx.task_create_exception_channel(proc, 0)
    host.zx.process_start(proc, thr, reader, 0, 0, 0)
    info, exc = read_exception(host, pch)
    assert info.type == zx.ZX_EXCP_FATAL_PAGE_FAULT
    # The handler maps memory at the faulting address, then resumes the thread.
    vmo = host.zx.vmo_create(4096, 0)
    host.zx.vmo_write(vmo, b"okay", 0)
    root = k.new_handle(host, child.root_vmar, child.root_vmar.default_handle_rights())
    host.zx.vmar_map(root, zx.ZX_VM_PERM_READ | zx.ZX_VM_SPECIFIC, 0x10000, vmo, 0, 4096)
    host.zx.object_set_property(exc, zx.ZX_PROP_EXCEPTION_STATE, zx.ZX_EXCEPTION_STATE_HANDLED)
    host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert got == [b"okay"]
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 0


def test_fault_without_handler_kills_and_host_access_raises(k: Kernel, host: Any) -> None:
    proc, thr = start(host, crash)
    child = k.objects[host.zx.object_get_info(proc, zx.ZX_INFO_HANDLE_BASIC).koid]
    host.zx.process_start(proc, thr, lambda a, b: child.write_memory(0x1000, b"x"), 0, 0, 0)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == zx.ZX_TASK_RETCODE_EXCEPTION_KILL
    with pytest.raises(MemoryFault):
        host.read_memory(0x1000, 1)


def test_start_at_address_zero_faults(k: Kernel, host: Any) -> None:
    proc, thr = start(host, crash)
    pch = host.zx.task_create_exception_channel(proc, 0)
    host.zx.process_start(proc, thr, 0, 0, 0, 0)
    info, exc = read_exception(host, pch)
    assert info.type == zx.ZX_EXCP_FATAL_PAGE_FAULT
    host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)


def test_exception_syscalls_reject_other_handles(k: Kernel, host: Any) -> None:
    vmo = host.zx.vmo_create(0, 0)
    assert status(host.zx.exception_get_thread, vmo) == zx.ZX_ERR_WRONG_TYPE
    assert status(host.zx.exception_get_process, 99) == zx.ZX_ERR_BAD_HANDLE
    assert status(host.zx.object_get_property, vmo, zx.ZX_PROP_EXCEPTION_STATE) == zx.ZX_ERR_WRONG_TYPE
    assert status(host.zx.object_set_property, vmo, zx.ZX_PROP_EXCEPTION_STATE, 1) == zx.ZX_ERR_WRONG_TYPE


def test_no_channel_plugin_means_not_supported() -> None:
    with Kernel(plugins=["vmo"]) as k:
        p = k.create_process("p")
        assert status(p.zx.task_create_exception_channel, p.zx.process_self(), 0) == zx.ZX_ERR_NOT_SUPPORTED


# --------------------------------------------------------------------------- debuggers
def test_process_debugger_gets_lifecycle_exceptions_and_first_chance(k: Kernel, host: Any) -> None:
    proc, thr = start(host, crash)
    dbg = host.zx.task_create_exception_channel(proc, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER)
    assert status(host.zx.task_create_exception_channel, proc, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER) == (
        zx.ZX_ERR_ALREADY_BOUND)
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).flags == zx.ZX_INFO_PROCESS_FLAG_DEBUGGER_ATTACHED
    pch = host.zx.task_create_exception_channel(proc, 0)
    host.zx.process_start(proc, thr, crash, 0, 0, 0)
    info, exc = read_exception(host, dbg)
    assert info.type == zx.ZX_EXCP_THREAD_STARTING
    assert host.zx.object_get_info(thr, zx.ZX_INFO_THREAD).wait_exception_channel_type == (
        zx.ZX_EXCEPTION_CHANNEL_TYPE_DEBUGGER)
    host.zx.handle_close(exc)
    # First chance: the debugger sees the crash before the process channel.
    info, exc = read_exception(host, dbg)
    assert info.type == zx.ZX_EXCP_GENERAL
    assert host.zx.object_get_property(exc, zx.ZX_PROP_EXCEPTION_STRATEGY) == zx.ZX_EXCEPTION_STRATEGY_FIRST_CHANCE
    assert status(host.zx.object_set_property, exc, zx.ZX_PROP_EXCEPTION_STRATEGY, 5) == zx.ZX_ERR_INVALID_ARGS
    host.zx.object_set_property(exc, zx.ZX_PROP_EXCEPTION_STRATEGY, zx.ZX_EXCEPTION_STRATEGY_SECOND_CHANCE)
    host.zx.handle_close(exc)
    info, exc = read_exception(host, pch)
    assert info.type == zx.ZX_EXCP_GENERAL
    assert status(host.zx.object_set_property, exc, zx.ZX_PROP_EXCEPTION_STRATEGY, 0) == zx.ZX_ERR_BAD_STATE
    host.zx.handle_close(exc)
    # Second chance: back to the debugger after the process channel passed.
    info, exc = read_exception(host, dbg)
    assert info.type == zx.ZX_EXCP_GENERAL
    host.zx.handle_close(exc)
    # The crash kills the process; the dying thread still reports THREAD_EXITING.
    info, exc = read_exception(host, dbg)
    assert info.type == zx.ZX_EXCP_THREAD_EXITING
    host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert host.zx.object_wait_one(dbg, zx.ZX_CHANNEL_PEER_CLOSED, 0) & zx.ZX_CHANNEL_PEER_CLOSED
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == zx.ZX_TASK_RETCODE_EXCEPTION_KILL


def test_self_exiting_thread_waits_in_dying_for_the_debugger(k: Kernel, host: Any) -> None:
    proc, thr = start(host, crash)
    dbg = host.zx.task_create_exception_channel(proc, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER)
    host.zx.process_start(proc, thr, lambda a, b: None, 0, 0, 0)
    info, exc = read_exception(host, dbg)
    host.zx.handle_close(exc)  # THREAD_STARTING
    info, exc = read_exception(host, dbg)
    assert info.type == zx.ZX_EXCP_THREAD_EXITING
    assert host.zx.object_get_info(thr, zx.ZX_INFO_THREAD).state == zx.ZX_THREAD_STATE_DYING
    assert status(host.zx.thread_read_state, thr, zx.ZX_THREAD_STATE_GENERAL_REGS, 160) == (
        zx.ZX_ERR_NOT_SUPPORTED)
    assert not pending(host, proc) & zx.ZX_PROCESS_TERMINATED
    host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 0


def test_job_debuggers_get_process_starting_in_bind_order(k: Kernel, host: Any) -> None:
    parent = host.zx.job_create(host.zx.job_default(), 0)
    job = host.zx.job_create(parent, 0)
    chans = [host.zx.task_create_exception_channel(job, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER) for _ in range(2)]
    up = host.zx.task_create_exception_channel(parent, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER)
    assert host.zx.object_get_info(job, zx.ZX_INFO_JOB).debugger_attached
    normal = host.zx.task_create_exception_channel(job, 0)
    proc, thr = start(host, crash, job)
    host.zx.process_start(proc, thr, lambda a, b: None, 0, 0, 0)
    for ch in (*chans, up):
        assert host.zx.object_wait_one(ch, zx.ZX_CHANNEL_READABLE, INF) & zx.ZX_CHANNEL_READABLE
        info, exc = read_exception(host, ch)
        assert info.type == zx.ZX_EXCP_PROCESS_STARTING
        # The next one is sent only once this one is closed.
        others = [c for c in (*chans, up) if c != ch]
        assert all(not pending(host, c) & zx.ZX_CHANNEL_READABLE for c in others)
        host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    # Lifecycle exceptions never reach normal channels.
    assert not pending(host, normal) & zx.ZX_CHANNEL_READABLE
    # At most 32 live job debugger channels; closed ones do not count.
    more = [host.zx.task_create_exception_channel(job, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER) for _ in range(30)]
    assert status(host.zx.task_create_exception_channel, job, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER) == (
        zx.ZX_ERR_ALREADY_BOUND)
    host.zx.handle_close(more.pop())
    more.append(host.zx.task_create_exception_channel(job, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER))


def test_exception_report(k: Kernel, host: Any) -> None:
    proc, thr = start(host, crash)
    pch = host.zx.task_create_exception_channel(proc, 0)
    assert status(host.zx.object_get_info, thr, zx.ZX_INFO_THREAD_EXCEPTION_REPORT) == zx.ZX_ERR_BAD_STATE
    child = k.objects[host.zx.object_get_info(proc, zx.ZX_INFO_HANDLE_BASIC).koid]
    host.zx.process_start(proc, thr, lambda a, b: child.read_memory(0x1000, 1), 0, 0, 0)
    _, exc = read_exception(host, pch)
    report = host.zx.object_get_info(thr, zx.ZX_INFO_THREAD_EXCEPTION_REPORT)
    assert report.type == zx.ZX_EXCP_FATAL_PAGE_FAULT and report.size == 40
    assert report.synth_code != 0
    assert status(host.zx.object_get_info, thr, zx.ZX_INFO_THREAD_EXCEPTION_REPORT, 8) == (
        zx.ZX_ERR_BUFFER_TOO_SMALL)
    host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert status(host.zx.object_get_info, 99, zx.ZX_INFO_THREAD_EXCEPTION_REPORT) == zx.ZX_ERR_BAD_HANDLE


def test_channel_flood_raises_the_policy_exception_on_the_writer(k: Kernel, host: Any) -> None:
    """Past Zircon's pending-message limit a write still queues its message, then raises
    ZX_EXCP_POLICY_ERROR (CHANNEL_FULL_WRITE) on the writing thread: handled, the thread
    goes on; unhandled, its process is killed."""
    def flood(ch: int, _: Any) -> None:
        for _ in range(MAX_PENDING_MESSAGES + 2):
            vdso().channel_write(ch, 0, b"m", [])

    # Handled: the thread resumes and finishes its loop; every message was queued.
    a, b = host.zx.channel_create(0)
    proc, thr = start(host, flood)
    pch = host.zx.task_create_exception_channel(proc, 0)
    host.zx.process_start(proc, thr, flood, 0, a, 0)
    for _ in range(2):  # the (MAX+1)th and (MAX+2)th writes
        info, exc = read_exception(host, pch)
        assert info.type == zx.ZX_EXCP_POLICY_ERROR
        report = host.zx.object_get_info(
            host.zx.exception_get_thread(exc), zx.ZX_INFO_THREAD_EXCEPTION_REPORT)
        assert report.type == zx.ZX_EXCP_POLICY_ERROR
        assert report.synth_code == zx.ZX_EXCP_POLICY_CODE_CHANNEL_FULL_WRITE
        host.zx.object_set_property(exc, zx.ZX_PROP_EXCEPTION_STATE, zx.ZX_EXCEPTION_STATE_HANDLED)
        host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 0
    chan = k.objects[host.zx.object_get_info(b, zx.ZX_INFO_HANDLE_BASIC).koid]
    assert len(chan.messages) == MAX_PENDING_MESSAGES + 2

    # Unhandled: the process is killed at the first write past the limit.
    a2, b2 = host.zx.channel_create(0)
    proc2, thr2 = start(host, flood)
    host.zx.process_start(proc2, thr2, flood, 0, a2, 0)
    host.zx.object_wait_one(proc2, zx.ZX_PROCESS_TERMINATED, INF)
    assert host.zx.object_get_info(proc2, zx.ZX_INFO_PROCESS).return_code == zx.ZX_TASK_RETCODE_EXCEPTION_KILL
    chan = k.objects[host.zx.object_get_info(b2, zx.ZX_INFO_HANDLE_BASIC).koid]
    assert len(chan.messages) == MAX_PENDING_MESSAGES + 1  # the write that raised was queued


def test_user_exception_invalid_args(k: Kernel, host: Any) -> None:
    """Zircon's UserExceptionsTest.InvalidArgs (and odd Python values)."""
    ctx = zx.zx_exception_context_t()
    target, user = zx.ZX_EXCEPTION_TARGET_JOB_DEBUGGER, zx.ZX_EXCP_USER
    bad_calls = [(0, user, ctx), (target, zx.ZX_EXCP_THREAD_STARTING, ctx), (target, user, None),
                 (True, user, ctx), (target, float(user), ctx), (target, user, b"\0" * 32),
                 (target, user, zx.zx_exception_context_t(synth_code=1 << 32))]
    for options, excp_type, context in bad_calls:
        assert status(host.zx.thread_raise_exception, options, excp_type, context) == zx.ZX_ERR_INVALID_ARGS


def test_user_exception_is_not_fatal_without_a_debugger(k: Kernel, host: Any) -> None:
    """UserExceptionsTest.NonFatal: nobody listens, the call returns OK."""
    results: list[Any] = []

    def body(a: Any, b: Any) -> None:
        results.append(vdso().thread_raise_exception(
            zx.ZX_EXCEPTION_TARGET_JOB_DEBUGGER, zx.ZX_EXCP_USER, zx.zx_exception_context_t()))

    proc, thr = start(host, body)
    host.zx.process_start(proc, thr, body, 0, 0, 0)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert results == [None]
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 0


def test_user_exception_is_delivered_to_job_debuggers(k: Kernel, host: Any) -> None:
    """UserExceptionsTest.Delivered: the job debugger channel gets ZX_EXCP_USER with the
    context's synth code and data; the raising thread waits until it is handled. A job
    debugger further up the chain gets it next."""
    job = host.zx.job_default()
    child_job = host.zx.job_create(job, 0)
    upper = host.zx.task_create_exception_channel(job, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER)
    lower = host.zx.task_create_exception_channel(child_job, zx.ZX_EXCEPTION_CHANNEL_DEBUGGER)
    results: list[Any] = []

    def body(a: Any, b: Any) -> None:
        ctx = zx.zx_exception_context_t(synth_code=zx.ZX_EXCP_USER_CODE_USER0, synth_data=42)
        results.append(vdso().thread_raise_exception(zx.ZX_EXCEPTION_TARGET_JOB_DEBUGGER, zx.ZX_EXCP_USER, ctx))

    proc, thr = start(host, body, job=child_job)
    host.zx.process_start(proc, thr, body, 0, 0, 0)
    for ch in (lower, upper):  # job debuggers first see the process start
        info, exc = read_exception(host, ch)
        assert info.type == zx.ZX_EXCP_PROCESS_STARTING
        host.zx.handle_close(exc)
    for ch in (lower, upper):  # its own job's debugger first, then up the chain
        info, exc = read_exception(host, ch)
        assert info.type == zx.ZX_EXCP_USER
        assert results == []  # the raising thread waits while a debugger holds it
        report = host.zx.object_get_info(host.zx.exception_get_thread(exc), zx.ZX_INFO_THREAD_EXCEPTION_REPORT)
        assert (report.type, report.synth_code, report.synth_data) == (zx.ZX_EXCP_USER, zx.ZX_EXCP_USER_CODE_USER0, 42)
        host.zx.object_set_property(exc, zx.ZX_PROP_EXCEPTION_STATE, zx.ZX_EXCEPTION_STATE_HANDLED)
        host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert results == [None]
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 0
