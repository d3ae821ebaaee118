"""Jobs, processes and threads through their syscalls (rules from Zircon's core-tests)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from microsim import Kernel, ProcessExitedError, ZxError, spawn, vdso, zx
from microsim.cli import main as cli_main
from microsim.core.invariants import collect
from microsim.runner import run_program
from microsim.testing.calls import status
from microsim.testing.conformance import conformance_suite, garbage_calls

INF = zx.ZX_TIME_INFINITE
NO_ALL = zx.ZX_JOB_NO_JOBS | zx.ZX_JOB_NO_PROCESSES | zx.ZX_JOB_NO_CHILDREN



@pytest.fixture
def k() -> Any:
    with Kernel(seed=3, check_invariants=True) as kernel:
        yield kernel


@pytest.fixture
def host(k: Kernel) -> Any:
    return k.create_process("host")


def _pending(p: Any, h: int) -> int:
    try:
        return p.zx.object_wait_one(h, zx.ZX_USER_SIGNAL_7, 0)
    except ZxError as e:
        assert e.status == zx.ZX_ERR_TIMED_OUT
        return e.observed  # type: ignore[no-any-return]


def new_process(host: Any, name: str = "child") -> tuple[int, int]:
    return host.zx.process_create(host.zx.job_default(), name, 0)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- jobs
def test_root_job_and_job_default(k: Kernel, host: Any) -> None:
    job = host.zx.job_default()
    info = host.zx.object_get_info(job, zx.ZX_INFO_HANDLE_BASIC)
    assert info.type == zx.ZX_OBJ_TYPE_JOB and info.related_koid == 0
    assert info.koid == k.root_job.koid and k.root_job.name == b"root"
    assert host.zx.object_get_property(job, zx.ZX_PROP_NAME) == b"root"
    assert host.koid in host.zx.object_get_info(job, zx.ZX_INFO_JOB_PROCESSES)
    pinfo = host.zx.object_get_info(host.zx.process_self(), zx.ZX_INFO_HANDLE_BASIC)
    assert pinfo.related_koid == k.root_job.koid


def test_job_create_signals_and_tree(host: Any) -> None:
    root = host.zx.job_default()
    child = host.zx.job_create(root, 0)
    assert host.zx.object_get_info(child, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_DEFAULT_JOB_RIGHTS
    assert _pending(host, child) == NO_ALL
    grand = host.zx.job_create(child, 0)
    assert _pending(host, child) == zx.ZX_JOB_NO_PROCESSES
    grand_koid = host.zx.object_get_info(grand, zx.ZX_INFO_HANDLE_BASIC).koid
    assert list(host.zx.object_get_info(child, zx.ZX_INFO_JOB_CHILDREN)) == [grand_koid]
    # Closing the only handle of an empty child job removes it from the tree.
    host.zx.handle_close(grand)
    assert list(host.zx.object_get_info(child, zx.ZX_INFO_JOB_CHILDREN)) == []
    assert _pending(host, child) == NO_ALL
    proc, vmar = host.zx.process_create(child, b"p", 0)
    assert _pending(host, child) == zx.ZX_JOB_NO_JOBS
    # Closing the only handle of an INITIAL process removes it too.
    host.zx.handle_close(proc)
    assert _pending(host, child) == NO_ALL
    assert list(host.zx.object_get_info(child, zx.ZX_INFO_JOB_PROCESSES)) == []
    host.zx.handle_close(vmar)


def test_job_create_errors(host: Any) -> None:
    root = host.zx.job_default()
    assert status(host.zx.job_create, root, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.job_create, 12345, 0) == zx.ZX_ERR_BAD_HANDLE
    assert status(host.zx.job_create, host.zx.process_self(), 0) == zx.ZX_ERR_WRONG_TYPE
    weak = host.zx.handle_duplicate(root, zx.ZX_DEFAULT_JOB_RIGHTS & ~zx.ZX_RIGHT_MANAGE_JOB)
    assert status(host.zx.job_create, weak, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(host.zx.job_create, root, 1 << 70) == zx.ZX_ERR_INVALID_ARGS
    # Depth limit: the root has height 32.
    job, chain = root, []
    for _ in range(zx.ZX_MAX_JOB_HEIGHT):
        job = host.zx.job_create(job, 0)
        chain.append(job)
    assert status(host.zx.job_create, job, 0) == zx.ZX_ERR_OUT_OF_RANGE
    killed = host.zx.job_create(root, 0)
    host.zx.task_kill(killed)
    assert status(host.zx.job_create, killed, 0) == zx.ZX_ERR_BAD_STATE
    assert status(host.zx.process_create, killed, "x", 0) == zx.ZX_ERR_BAD_STATE


def test_job_info_and_kill_cascade(host: Any) -> None:
    root = host.zx.job_default()
    job = host.zx.job_create(root, 0)
    sub = host.zx.job_create(job, 0)
    proc, _vmar = host.zx.process_create(sub, "victim", 0)
    info = host.zx.object_get_info(job, zx.ZX_INFO_JOB)
    assert (info.return_code, info.exited) == (0, False)
    host.zx.task_kill(job)
    info = host.zx.object_get_info(job, zx.ZX_INFO_JOB)
    assert (info.return_code, info.exited) == (zx.ZX_TASK_RETCODE_SYSCALL_KILL, True)
    assert _pending(host, job) == NO_ALL | zx.ZX_JOB_TERMINATED
    assert _pending(host, sub) & zx.ZX_JOB_TERMINATED
    pinfo = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS)
    assert pinfo.return_code == zx.ZX_TASK_RETCODE_SYSCALL_KILL
    assert pinfo.flags == zx.ZX_INFO_PROCESS_FLAG_STARTED | zx.ZX_INFO_PROCESS_FLAG_EXITED
    assert host.zx.task_kill(job) is None  # killing a dead job: ZX_OK
    assert list(host.zx.object_get_info(root, zx.ZX_INFO_JOB_CHILDREN)).count(
        host.zx.object_get_info(job, zx.ZX_INFO_HANDLE_BASIC).koid) == 0
    assert status(host.zx.object_get_info, job, zx.ZX_INFO_JOB, 8) == zx.ZX_ERR_BUFFER_TOO_SMALL
    weak = host.zx.handle_duplicate(root, zx.ZX_RIGHT_INSPECT)
    assert status(host.zx.object_get_info, weak, zx.ZX_INFO_JOB_CHILDREN) == zx.ZX_ERR_ACCESS_DENIED
    assert status(host.zx.object_get_info, weak, zx.ZX_INFO_JOB_PROCESSES) == zx.ZX_ERR_ACCESS_DENIED


def test_job_stays_ready_when_its_last_process_exits(k: Kernel, host: Any) -> None:
    job = host.zx.job_create(host.zx.job_default(), 0)
    proc, _ = host.zx.process_create(job, "short", 0)
    thr = host.zx.thread_create(proc, "main", 0)
    host.zx.process_start(proc, thr, lambda a, b: vdso().process_exit(7), 0, 0, 0)
    k.run()
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 7
    assert _pending(host, job) == NO_ALL
    assert not host.zx.object_get_info(job, zx.ZX_INFO_JOB).exited


# --------------------------------------------------------------------------- processes
def test_process_create_names_rights_and_errors(host: Any) -> None:
    job = host.zx.job_default()
    proc, vmar = host.zx.process_create(job, "x" * 40, 0)
    assert host.zx.object_get_property(proc, zx.ZX_PROP_NAME) == b"x" * 31
    assert host.zx.object_get_info(proc, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_DEFAULT_PROCESS_RIGHTS
    vinfo = host.zx.object_get_info(vmar, zx.ZX_INFO_HANDLE_BASIC)
    assert vinfo.type == zx.ZX_OBJ_TYPE_VMAR and vinfo.rights == 0x20801F
    empty, _ = host.zx.process_create(job, b"", 0)
    assert host.zx.object_get_property(empty, zx.ZX_PROP_NAME) == b""
    cut, _ = host.zx.process_create(job, b"ab\0cd", 0)
    assert host.zx.object_get_property(cut, zx.ZX_PROP_NAME) == b"ab"
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).flags == 0
    before = len(host.handles)
    assert status(host.zx.process_create, job, "n", 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.process_create, job, None, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.process_create, job, 5, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.process_create, 77, "n", 0) == zx.ZX_ERR_BAD_HANDLE
    assert status(host.zx.process_create, proc, "n", 0) == zx.ZX_ERR_WRONG_TYPE
    weak = host.zx.handle_duplicate(job, zx.ZX_DEFAULT_JOB_RIGHTS & ~zx.ZX_RIGHT_MANAGE_PROCESS)
    assert status(host.zx.process_create, weak, "n", 0) == zx.ZX_ERR_ACCESS_DENIED
    assert len(host.handles) == before + 1


def test_process_start_runs_entry_with_moved_handle(k: Kernel, host: Any) -> None:
    seen: list[Any] = []

    def entry(arg1: int, arg2: Any) -> None:
        z = vdso()
        seen.append((z.object_get_info(arg1, zx.ZX_INFO_HANDLE_BASIC).type, arg2))
        z.process_exit(42)

    proc, _vmar = new_process(host)
    thr = host.zx.thread_create(proc, "main", 0)
    assert host.zx.object_get_info(thr, zx.ZX_INFO_THREAD).state == zx.ZX_THREAD_STATE_NEW
    assert _pending(host, thr) == 0
    ev = host.zx.vmo_create(0, 0)
    host.zx.process_start(proc, thr, entry, 0, ev, "data")
    assert ev not in host.handles  # moved
    info = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS)
    assert info.flags == zx.ZX_INFO_PROCESS_FLAG_STARTED and info.return_code == 0
    tkoid = host.zx.object_get_info(thr, zx.ZX_INFO_HANDLE_BASIC).koid
    assert list(host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS_THREADS)) == [tkoid]
    assert _pending(host, thr) == zx.ZX_THREAD_RUNNING
    k.run()
    assert seen == [(zx.ZX_OBJ_TYPE_VMO, "data")]
    info = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS)
    assert info.return_code == 42 and info.flags == 3
    assert _pending(host, proc) == zx.ZX_PROCESS_TERMINATED
    assert _pending(host, thr) == zx.ZX_THREAD_TERMINATED
    assert host.zx.object_get_info(thr, zx.ZX_INFO_THREAD).state == zx.ZX_THREAD_STATE_DEAD
    assert list(host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS_THREADS)) == []
    v1 = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS_V1)
    assert (v1.return_code, v1.started, v1.exited) == (42, True, True)
    # Thread of a dead process: ZX_PROP_NAME and THREAD_STATS are BAD_STATE.
    assert status(host.zx.object_get_property, thr, zx.ZX_PROP_NAME) == zx.ZX_ERR_BAD_STATE
    assert status(host.zx.object_get_info, thr, zx.ZX_INFO_THREAD_STATS) == zx.ZX_ERR_BAD_STATE
    assert status(host.zx.object_get_info, proc, zx.ZX_INFO_TASK_STATS) == zx.ZX_ERR_BAD_STATE


def test_process_start_errors_close_arg1(k: Kernel, host: Any) -> None:
    proc, _ = new_process(host)
    thr = host.zx.thread_create(proc, "t", 0)
    other, _ = new_process(host, "other")
    other_thr = host.zx.thread_create(other, "t", 0)

    def check(expected: int, *args: Any) -> None:
        ev = host.zx.vmo_create(0, 0)
        assert status(host.zx.process_start, *args[:4], ev, 0) == expected
        assert ev not in host.handles  # closed whatever failed

    noop = lambda a, b: None  # noqa: E731
    check(zx.ZX_ERR_BAD_HANDLE, 99, thr, noop, 0)
    check(zx.ZX_ERR_WRONG_TYPE, thr, thr, noop, 0)
    check(zx.ZX_ERR_WRONG_TYPE, proc, proc, noop, 0)
    ro = host.zx.handle_duplicate(proc, zx.ZX_RIGHT_INSPECT)
    check(zx.ZX_ERR_ACCESS_DENIED, ro, thr, noop, 0)
    check(zx.ZX_ERR_ACCESS_DENIED, proc, other_thr, noop, 0)
    check(zx.ZX_ERR_INVALID_ARGS, proc, thr, 1 << 55, 0)
    check(zx.ZX_ERR_INVALID_ARGS, proc, thr, "not code", 0)
    nt = host.zx.vmo_create(0, 0)
    nt = host.zx.handle_replace(nt, zx.ZX_RIGHT_INSPECT)
    assert status(host.zx.process_start, proc, thr, noop, 0, nt, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert nt not in host.handles
    # An invalid arg1 is no error: the process starts with arg1 = 0.
    got: list[int] = []
    host.zx.process_start(proc, thr, lambda a, b: got.append(a), 0, 12345, 0)
    check(zx.ZX_ERR_BAD_STATE, proc, thr, noop, 0)  # started twice
    k.run()
    assert got == [0]
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 0
    check(zx.ZX_ERR_BAD_STATE, proc, thr, noop, 0)  # dead


def test_threads_start_and_last_thread_ends_process(k: Kernel, host: Any) -> None:
    proc, _ = new_process(host)
    first = host.zx.thread_create(proc, "first", 0)
    second = host.zx.thread_create(proc, "second", 0)
    order: list[str] = []

    def second_body(a: Any, b: Any) -> None:
        order.append(f"second {a} {b}")

    def first_body(a: Any, b: Any) -> None:
        order.append("first")
        vdso().nanosleep(vdso().deadline_after(10_000))
        order.append("first again")

    # zx_thread_start may start the first thread of an INITIAL process.
    host.zx.thread_start(first, first_body, 0, 0, 0)
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).flags == zx.ZX_INFO_PROCESS_FLAG_STARTED
    assert status(host.zx.thread_start, first, first_body, 0, 0, 0) == zx.ZX_ERR_BAD_STATE
    assert status(host.zx.thread_start, second, 1 << 60, 0, 0, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.process_start, proc, second, second_body, 0, 0, 0) == zx.ZX_ERR_BAD_STATE
    weak = host.zx.handle_duplicate(second, zx.ZX_DEFAULT_THREAD_RIGHTS & ~zx.ZX_RIGHT_MANAGE_THREAD)
    assert status(host.zx.thread_start, weak, second_body, 0, 0, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(host.zx.thread_start, proc, second_body, 0, 0, 0) == zx.ZX_ERR_WRONG_TYPE
    host.zx.thread_start(second, second_body, 0, 1, 2)
    k.run()
    assert order[0] in ("first", "second 1 2") and order[-1] == "first again"
    info = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS)
    assert info.return_code == 0 and info.flags == 3
    # A thread created in a dead process: ZX_OK, but it can never start.
    late = host.zx.thread_create(proc, "late", 0)
    assert status(host.zx.thread_start, late, second_body, 0, 0, 0) == zx.ZX_ERR_BAD_STATE


def test_thread_create_errors(host: Any) -> None:
    proc, _ = new_process(host)
    assert status(host.zx.thread_create, proc, "t", 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.thread_create, proc, None, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.thread_create, 99, "t", 0) == zx.ZX_ERR_BAD_HANDLE
    assert status(host.zx.thread_create, host.zx.job_default(), "t", 0) == zx.ZX_ERR_WRONG_TYPE
    weak = host.zx.handle_duplicate(proc, zx.ZX_DEFAULT_PROCESS_RIGHTS & ~zx.ZX_RIGHT_MANAGE_THREAD)
    assert status(host.zx.thread_create, weak, "t", 0) == zx.ZX_ERR_ACCESS_DENIED
    t = host.zx.thread_create(proc, "y" * 50, 0)
    assert host.zx.object_get_property(t, zx.ZX_PROP_NAME) == b"y" * 31
    info = host.zx.object_get_info(t, zx.ZX_INFO_HANDLE_BASIC)
    assert info.rights == zx.ZX_DEFAULT_THREAD_RIGHTS
    assert info.related_koid == host.zx.object_get_info(proc, zx.ZX_INFO_HANDLE_BASIC).koid
    stats = host.zx.object_get_info(t, zx.ZX_INFO_THREAD_STATS)
    assert stats.last_scheduled_cpu == zx.ZX_INFO_INVALID_CPU and stats.total_runtime == 0
    assert status(host.zx.thread_exit) == zx.ZX_ERR_BAD_STATE  # not a simulated thread


def test_thread_states_show_why_a_thread_is_blocked(k: Kernel, host: Any) -> None:
    mine, _peer = host.zx.channel_create(0)
    port = host.zx.port_create(0)
    proc, _ = new_process(host)
    bodies = {
        "one": lambda a, b: vdso().object_wait_one(a, zx.ZX_CHANNEL_READABLE, INF),
        "many": lambda a, b: vdso().object_wait_many([(a, zx.ZX_CHANNEL_READABLE)], INF),
        "sleep": lambda a, b: vdso().nanosleep(INF - 1),
        "port": lambda a, b: vdso().port_wait(b, INF),
    }
    threads = {}
    first = True
    for name, body in bodies.items():
        t = host.zx.thread_create(proc, name, 0)
        threads[name] = t
        if first:
            host.zx.process_start(proc, t, body, 0, mine, 0)
            first = False
    # The others share the child's copy of the event and port (values in the child).
    child = k.objects[host.zx.object_get_info(proc, zx.ZX_INFO_HANDLE_BASIC).koid]
    (ev_in_child,) = list(child.handles)
    port_in_child = k.new_handle(child, host.handle(port).obj, zx.ZX_DEFAULT_PORT_RIGHTS)
    for name in ("many", "sleep", "port"):
        host.zx.thread_start(threads[name], bodies[name], 0, ev_in_child, port_in_child)
    # Run until all four are blocked (a direct wait drives the scheduler).
    host.zx.nanosleep(host.zx.deadline_after(1_000_000))
    states = {n: host.zx.object_get_info(t, zx.ZX_INFO_THREAD).state for n, t in threads.items()}
    assert states == {
        "one": zx.ZX_THREAD_STATE_BLOCKED_WAIT_ONE,
        "many": zx.ZX_THREAD_STATE_BLOCKED_WAIT_MANY,
        "sleep": zx.ZX_THREAD_STATE_BLOCKED_SLEEPING,
        "port": zx.ZX_THREAD_STATE_BLOCKED_PORT,
    }
    assert zx.ZX_THREAD_STATE_BASIC(states["port"]) == zx.ZX_THREAD_STATE_BLOCKED
    # Killing the process unwinds the blocked threads; they become DEAD.
    host.zx.task_kill(proc)
    for t in threads.values():
        assert host.zx.object_get_info(t, zx.ZX_INFO_THREAD).state == zx.ZX_THREAD_STATE_DEAD
        assert _pending(host, t) == zx.ZX_THREAD_TERMINATED
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == zx.ZX_TASK_RETCODE_SYSCALL_KILL


def test_task_kill_rights_and_types(k: Kernel, host: Any) -> None:
    proc, _ = new_process(host)
    thr = host.zx.thread_create(proc, "t", 0)
    vmo = host.zx.vmo_create(4096, 0)
    assert status(host.zx.task_kill, 99) == zx.ZX_ERR_BAD_HANDLE
    assert status(host.zx.task_kill, vmo) == zx.ZX_ERR_ACCESS_DENIED  # rights before type
    assert status(host.zx.task_kill, thr) == zx.ZX_ERR_WRONG_TYPE
    weak = host.zx.handle_duplicate(proc, zx.ZX_RIGHT_INSPECT)
    assert status(host.zx.task_kill, weak) == zx.ZX_ERR_ACCESS_DENIED
    # Kill of an INITIAL process: DEAD at once, STARTED|EXITED, start_time 0.
    host.zx.task_kill(proc)
    info = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS)
    assert (info.return_code, info.flags, info.start_time) == (zx.ZX_TASK_RETCODE_SYSCALL_KILL, 3, 0)
    host.zx.task_kill(proc)  # dead: no-op
    # The never-started thread stays NEW and never asserts TERMINATED.
    assert host.zx.object_get_info(thr, zx.ZX_INFO_THREAD).state == zx.ZX_THREAD_STATE_NEW
    assert _pending(host, thr) == 0


def test_process_death_closes_its_handles_and_mappings(k: Kernel, host: Any) -> None:
    a, b = host.zx.channel_create(0)
    proc, vmar = new_process(host)
    thr = host.zx.thread_create(proc, "t", 0)
    host.zx.process_start(proc, thr, lambda h, x: vdso().nanosleep(INF - 1), 0, b, 0)
    vmo = host.zx.vmo_create(4096, 0)
    addr = host.zx.vmar_map(vmar, zx.ZX_VM_PERM_READ, 0, vmo, 0, 4096)
    assert host.zx.process_read_memory(proc, addr, 16) == bytes(16)
    host.zx.nanosleep(host.zx.deadline_after(1000))
    assert not _pending(host, a) & zx.ZX_CHANNEL_PEER_CLOSED
    host.zx.task_kill(proc)
    assert _pending(host, a) & zx.ZX_CHANNEL_PEER_CLOSED
    assert status(host.zx.process_read_memory, proc, addr, 16) == zx.ZX_ERR_BAD_STATE
    assert status(host.zx.object_get_info, proc, zx.ZX_INFO_PROCESS_MAPS) == zx.ZX_ERR_BAD_STATE
    assert status(host.zx.object_get_info, proc, zx.ZX_INFO_PROCESS_VMOS) == zx.ZX_ERR_BAD_STATE


def test_closing_handles_does_not_kill_a_running_process(k: Kernel, host: Any) -> None:
    done: list[bool] = []
    proc, vmar = new_process(host)
    thr = host.zx.thread_create(proc, "t", 0)
    host.zx.process_start(proc, thr, lambda a, b: done.append(True), 0, 0, 0)
    obj = host.handle(proc).obj
    host.zx.handle_close_many([proc, vmar, thr])
    k.run()
    assert done == [True] and obj.exited and obj.exit_code == 0


def test_object_get_child(k: Kernel, host: Any) -> None:
    root = host.zx.job_default()
    job = host.zx.job_create(root, 0)
    sub = host.zx.job_create(job, 0)
    proc, _ = host.zx.process_create(job, "p", 0)
    gproc, _ = host.zx.process_create(sub, "g", 0)

    def koid(h: int) -> int:
        return host.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).koid  # type: ignore[no-any-return]

    got = host.zx.object_get_child(job, koid(proc), zx.ZX_RIGHT_SAME_RIGHTS)
    info = host.zx.object_get_info(got, zx.ZX_INFO_HANDLE_BASIC)
    assert info.koid == koid(proc) and info.rights == zx.ZX_DEFAULT_JOB_RIGHTS  # parent's rights
    assert koid(host.zx.object_get_child(job, koid(sub), zx.ZX_RIGHT_INSPECT)) == koid(sub)
    assert status(host.zx.object_get_child, job, koid(gproc), zx.ZX_RIGHT_SAME_RIGHTS) == zx.ZX_ERR_NOT_FOUND
    assert status(host.zx.object_get_child, 99, 1, 0) == zx.ZX_ERR_BAD_HANDLE
    weak = host.zx.handle_duplicate(job, zx.ZX_RIGHT_INSPECT)
    assert status(host.zx.object_get_child, weak, koid(proc), zx.ZX_RIGHT_SAME_RIGHTS) == zx.ZX_ERR_ACCESS_DENIED
    small = host.zx.handle_duplicate(job, zx.ZX_RIGHT_ENUMERATE)
    assert status(host.zx.object_get_child, small, koid(proc), zx.ZX_RIGHT_READ) == zx.ZX_ERR_ACCESS_DENIED
    vmo = host.zx.vmo_create(0, 0)
    assert status(host.zx.object_get_child, vmo, 1, zx.ZX_RIGHT_SAME_RIGHTS) == zx.ZX_ERR_ACCESS_DENIED
    # Threads: only started ones.
    thr = host.zx.thread_create(proc, "t", 0)
    assert status(host.zx.object_get_child, proc, koid(thr), zx.ZX_RIGHT_SAME_RIGHTS) == zx.ZX_ERR_NOT_FOUND
    host.zx.process_start(proc, thr, lambda a, b: vdso().nanosleep(INF - 1), 0, 0, 0)
    t2 = host.zx.object_get_child(proc, koid(thr), zx.ZX_RIGHT_SAME_RIGHTS)
    assert host.zx.object_get_info(t2, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_DEFAULT_PROCESS_RIGHTS
    host.zx.task_kill(proc)
    assert status(host.zx.object_get_child, proc, koid(thr), zx.ZX_RIGHT_SAME_RIGHTS) == zx.ZX_ERR_NOT_FOUND


def test_process_memory_access(host: Any) -> None:
    with Kernel(seed=1, debugging_syscalls=True) as k:
        p = k.create_process("debugger")
        proc, vmar = new_process(p)
        vmo = p.zx.vmo_create(8192, 0)
        addr = p.zx.vmar_map(vmar, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE, 0, vmo, 0, 8192)
        assert p.zx.process_write_memory(proc, addr + 8190, b"abcd") == 2  # partial
        assert p.zx.process_read_memory(proc, addr + 8188, 100) == b"\0\0ab"
        assert status(p.zx.process_read_memory, proc, 0, 4) == zx.ZX_ERR_NOT_FOUND
        assert status(p.zx.process_read_memory, proc, addr, 0) == zx.ZX_ERR_INVALID_ARGS
        assert status(p.zx.process_read_memory, proc, addr, (64 << 20) + 1) == zx.ZX_ERR_INVALID_ARGS
        ro = p.zx.handle_duplicate(proc, zx.ZX_RIGHT_READ)
        assert status(p.zx.process_read_memory, ro, addr, 4) == zx.ZX_ERR_ACCESS_DENIED
        assert status(p.zx.process_write_memory, ro, addr, b"x") == zx.ZX_ERR_ACCESS_DENIED
        assert status(p.zx.process_read_memory, vmo, addr, 4) == zx.ZX_ERR_WRONG_TYPE
        assert status(p.zx.process_write_memory, proc, addr, None) == zx.ZX_ERR_INVALID_ARGS
        stats = p.zx.object_get_info(proc, zx.ZX_INFO_TASK_STATS)
        assert stats.mem_mapped_bytes == 8192 and stats.mem_private_bytes >= 4096
    # Debugging syscalls are off by default.
    proc, vmar = new_process(host)
    assert status(host.zx.process_write_memory, proc, 0x1000, b"x") == zx.ZX_ERR_NOT_SUPPORTED


def test_exited_process_facade_refuses_everything(k: Kernel) -> None:
    p = k.create_process("gone")
    z = p.zx
    p.zx.process_exit(3)
    assert p.exited and p.exit_code == 3 and not p.handles
    live = len(k.objects)
    with pytest.raises(ProcessExitedError) as e:
        z.event_create(0)
    assert e.value.status == zx.ZX_ERR_BAD_STATE and "has exited" in str(e.value)
    with pytest.raises(ZxError):
        p.zx.handle_close(0)
    assert len(k.objects) == live


def test_uncaught_python_exception_kills_the_process(k: Kernel, host: Any) -> None:
    proc, _ = new_process(host)
    thr = host.zx.thread_create(proc, "t", 0)

    def boom(a: Any, b: Any) -> None:
        raise RuntimeError("boom")

    host.zx.process_start(proc, thr, boom, 0, 0, 0)
    k.run()
    info = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS)
    assert info.return_code == zx.ZX_TASK_RETCODE_EXCEPTION_KILL


def test_process_exit_first_code_wins_and_kills_other_threads(k: Kernel, host: Any) -> None:
    proc, _ = new_process(host)
    t1 = host.zx.thread_create(proc, "sleeper", 0)
    t2 = host.zx.thread_create(proc, "exiter", 0)
    host.zx.process_start(proc, t1, lambda a, b: vdso().nanosleep(INF - 1), 0, 0, 0)
    host.zx.thread_start(t2, lambda a, b: vdso().process_exit(-5), 0, 0, 0)
    k.run()
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == -5
    host.zx.task_kill(proc)
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == -5
    assert status(host.zx.process_exit, 1 << 64) == zx.ZX_ERR_INVALID_ARGS


# --------------------------------------------------------------------------- launcher
def test_ctx_spawn_and_thread_use_the_task_syscalls() -> None:
    got: list[Any] = []

    def child(ctx: Any) -> int:
        (h,) = ctx.handles
        got.append(ctx.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).type)
        got.append(ctx.zx.object_get_info(ctx.zx.job_default(), zx.ZX_INFO_HANDLE_BASIC).type)
        return 9

    def parent(ctx: Any) -> None:
        vmo = ctx.zx.vmo_create(0, 0)
        procs.append(ctx.spawn(child, handles=[vmo]))
        assert vmo not in ctx.process.handles
        th = ctx.thread(got.append, "thread ran")
        ctx.zx.object_wait_one(th, zx.ZX_THREAD_TERMINATED, INF)
        ctx.zx.handle_close(th)

    procs: list[Any] = []
    for plugins in (None, ["vmo"]):
        got.clear()
        with Kernel(seed=2, capture=True, plugins=plugins, check_invariants=True) as k:
            spawn(k, parent)
            k.run()
        names = [r["name"] for r in k.trace.records if r["kind"] == "syscall"]  # type: ignore[union-attr]
        assert sorted(map(str, got)) == sorted(map(str, [zx.ZX_OBJ_TYPE_VMO, zx.ZX_OBJ_TYPE_JOB,
                                                         "thread ran"]))
        assert procs[-1].exited and procs[-1].exit_code == 9
        seq = [n for n in names if n in ("zx_process_create", "zx_thread_create", "zx_process_start",
                                         "zx_thread_start")]
        assert seq[:3] == ["zx_process_create", "zx_thread_create", "zx_process_start"]
        assert "zx_thread_start" in seq
        assert ("zx_channel_write" in names) == (plugins is None)


def test_main_return_value_is_the_return_code(tmp_path: Any) -> None:
    prog = tmp_path / "three.py"
    prog.write_text("def main(ctx):\n    return 3\n")
    r = run_program(str(prog))
    # A non-zero return code is a failed run (microsim run exits with it).
    assert not r.ok and r.return_code == 3 and "exited with code 3" in r.error
    prog.write_text("def main(ctx):\n    return None\n")
    assert run_program(str(prog)).return_code == 0


# --------------------------------------------------------------------------- job policy
def _run_in_job(k: Kernel, host: Any, job: int, body: Any) -> tuple[int, list[Any]]:
    out: list[Any] = []
    proc, vmar = host.zx.process_create(job, "restricted", 0)
    thr = host.zx.thread_create(proc, "main", 0)
    host.zx.process_start(proc, thr, lambda a, b: body(vdso(), out), 0, 0, 0)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    code = host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code
    host.zx.handle_close_many([proc, vmar, thr])
    return code, out


def test_job_set_policy_errors(host: Any) -> None:
    root = host.zx.job_default()
    job = host.zx.job_create(root, 0)
    V1, V2, ABS, REL = zx.ZX_JOB_POL_BASIC_V1, zx.ZX_JOB_POL_BASIC_V2, zx.ZX_JOB_POL_ABSOLUTE, zx.ZX_JOB_POL_RELATIVE
    deny_vmo = [zx.zx_policy_basic_v2_t(zx.ZX_POL_NEW_VMO, zx.ZX_POL_ACTION_DENY, zx.ZX_POL_OVERRIDE_DENY)]
    sp = host.zx.job_set_policy
    assert status(sp, job, ABS, 7, deny_vmo) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, job, 2, V2, deny_vmo) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, job, ABS, V2, None) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, job, ABS, V2, []) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, job, ABS, V2, deny_vmo * 33) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, 99, ABS, V2, deny_vmo) == zx.ZX_ERR_BAD_HANDLE
    assert status(sp, host.zx.process_self(), ABS, V2, deny_vmo) == zx.ZX_ERR_WRONG_TYPE
    weak = host.zx.handle_duplicate(job, zx.ZX_DEFAULT_JOB_RIGHTS & ~zx.ZX_RIGHT_SET_POLICY)
    assert status(sp, weak, ABS, V2, deny_vmo) == zx.ZX_ERR_ACCESS_DENIED
    assert status(sp, root, ABS, V2, deny_vmo) == zx.ZX_ERR_BAD_STATE  # has children
    assert status(sp, job, ABS, V2, deny_vmo * 18) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(sp, job, ABS, V2, [(zx.ZX_POL_NEW_VMO, 5, 0)]) == zx.ZX_ERR_NOT_SUPPORTED
    assert status(sp, job, ABS, V2, [(zx.ZX_POL_NEW_VMO, 1, 2)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, job, ABS, V2, [(zx.ZX_POL_MAX, 1, 0)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, job, ABS, V1, [(zx.ZX_POL_NEW_VMO, 1, 0)]) == zx.ZX_ERR_INVALID_ARGS
    sp(job, ABS, V2, deny_vmo)
    sp(job, ABS, V2, deny_vmo)  # same action, DENY override: no-op
    allow = [(zx.ZX_POL_NEW_VMO, zx.ZX_POL_ACTION_ALLOW, zx.ZX_POL_OVERRIDE_DENY)]
    assert status(sp, job, ABS, V2, allow) == zx.ZX_ERR_ALREADY_EXISTS
    sp(job, REL, V2, allow)  # relative: the old entry stays
    # Timer slack.
    assert status(sp, job, ABS, zx.ZX_JOB_POL_TIMER_SLACK, [(0, 0)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, job, REL, zx.ZX_JOB_POL_TIMER_SLACK, [(-1, 0)]) == zx.ZX_ERR_INVALID_ARGS
    assert status(sp, job, REL, zx.ZX_JOB_POL_TIMER_SLACK, [(0, 3)]) == zx.ZX_ERR_INVALID_ARGS
    sp(job, REL, zx.ZX_JOB_POL_TIMER_SLACK, [zx.zx_policy_timer_slack_t(1000, zx.ZX_TIMER_SLACK_LATE)])


def test_job_policy_is_enforced_on_the_calling_process(k: Kernel, host: Any) -> None:
    root = host.zx.job_default()
    job = host.zx.job_create(root, 0)
    host.zx.job_set_policy(job, zx.ZX_JOB_POL_ABSOLUTE, zx.ZX_JOB_POL_BASIC_V2, [
        (zx.ZX_POL_NEW_ANY, zx.ZX_POL_ACTION_DENY, zx.ZX_POL_OVERRIDE_DENY),
        (zx.ZX_POL_NEW_VMO, zx.ZX_POL_ACTION_ALLOW, zx.ZX_POL_OVERRIDE_DENY),
    ])

    def body(z: Any, out: list[Any]) -> None:
        out.append(status(z.vmo_create, 0, 0))
        out.append(status(z.channel_create, 0))
        out.append(status(z.port_create, 0))
        out.append(status(z.process_create, 12345, "x", 0))  # policy before the handle
        out.append(status(z.job_create, 12345, 0))  # no policy for jobs: BAD_HANDLE

    code, out = _run_in_job(k, host, job, body)
    assert out == [zx.ZX_OK, zx.ZX_ERR_ACCESS_DENIED, zx.ZX_ERR_ACCESS_DENIED, zx.ZX_ERR_ACCESS_DENIED,
                   zx.ZX_ERR_BAD_HANDLE]
    assert code == 0
    # A child job inherits the policy, and cannot loosen a DENY override.
    sub = host.zx.job_create(job, 0)
    assert status(host.zx.job_set_policy, sub, zx.ZX_JOB_POL_ABSOLUTE, zx.ZX_JOB_POL_BASIC_V2,
                  [(zx.ZX_POL_NEW_CHANNEL, zx.ZX_POL_ACTION_ALLOW, 0)]) == zx.ZX_ERR_ALREADY_EXISTS
    code, out = _run_in_job(k, host, sub, body)
    assert out[1] == zx.ZX_ERR_ACCESS_DENIED


def test_policy_kill_and_bad_handle_exception(k: Kernel, host: Any) -> None:
    root = host.zx.job_default()
    killer = host.zx.job_create(root, 0)
    host.zx.job_set_policy(killer, zx.ZX_JOB_POL_RELATIVE, zx.ZX_JOB_POL_BASIC_V1,
                           [zx.zx_policy_basic_v1_t(zx.ZX_POL_NEW_VMO, zx.ZX_POL_ACTION_KILL)])
    code, out = _run_in_job(k, host, killer, lambda z, out: (z.vmo_create(0, 0), out.append("after")))
    assert code == zx.ZX_TASK_RETCODE_POLICY_KILL and out == []

    watched = host.zx.job_create(root, 0)
    host.zx.job_set_policy(watched, zx.ZX_JOB_POL_ABSOLUTE, zx.ZX_JOB_POL_BASIC_V2,
                           [(zx.ZX_POL_BAD_HANDLE, zx.ZX_POL_ACTION_ALLOW_EXCEPTION, 0)])
    ch = host.zx.task_create_exception_channel(watched, 0)
    proc, _vmar = host.zx.process_create(watched, "sloppy", 0)
    thr = host.zx.thread_create(proc, "main", 0)
    out: list[int] = []

    def sloppy(a: Any, b: Any) -> None:
        z = vdso()
        out.append(status(z.object_get_info, 777, zx.ZX_INFO_HANDLE_VALID))  # exempt
        out.append(status(z.handle_close, 777))

    host.zx.process_start(proc, thr, sloppy, 0, 0, 0)
    host.zx.object_wait_one(ch, zx.ZX_CHANNEL_READABLE, INF)
    data, (exc,) = host.zx.channel_read(ch, 0)
    assert zx.zx_exception_info_t.unpack(data).type == zx.ZX_EXCP_POLICY_ERROR
    assert out == [zx.ZX_ERR_BAD_HANDLE]
    host.zx.object_set_property(exc, zx.ZX_PROP_EXCEPTION_STATE, zx.ZX_EXCEPTION_STATE_HANDLED)
    host.zx.handle_close(exc)
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    assert out == [zx.ZX_ERR_BAD_HANDLE, zx.ZX_ERR_BAD_HANDLE]
    assert host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == 0


@pytest.mark.parametrize("bad_call", [
    lambda z: z.handle_duplicate(777, zx.ZX_RIGHT_SAME_RIGHTS),
    lambda z: z.handle_close(777),
    lambda z: z.handle_replace(777, zx.ZX_RIGHT_SAME_RIGHTS),
    lambda z: z.object_signal(777, 0, 0),
])
def test_bad_handle_policy_applies_to_every_lookup(k: Kernel, host: Any, bad_call: Any) -> None:
    # ZX_POL_BAD_HANDLE with KILL: a syscall naming a bad handle kills the process.
    job = host.zx.job_create(host.zx.job_default(), 0)
    host.zx.job_set_policy(job, zx.ZX_JOB_POL_RELATIVE, zx.ZX_JOB_POL_BASIC_V1,
                           [zx.zx_policy_basic_v1_t(zx.ZX_POL_BAD_HANDLE, zx.ZX_POL_ACTION_KILL)])
    code, out = _run_in_job(k, host, job, lambda z, out: (bad_call(z), out.append("after")))
    assert code == zx.ZX_TASK_RETCODE_POLICY_KILL and out == []


@pytest.mark.parametrize(("condition", "create"), [
    (zx.ZX_POL_NEW_EVENT, lambda z: z.event_create(0)),
    (zx.ZX_POL_NEW_EVENTPAIR, lambda z: z.eventpair_create(0)),
    (zx.ZX_POL_NEW_SOCKET, lambda z: z.socket_create(0)),
    (zx.ZX_POL_NEW_FIFO, lambda z: z.fifo_create(4, 4, 0)),
    (zx.ZX_POL_NEW_TIMER, lambda z: z.timer_create(0, zx.ZX_CLOCK_MONOTONIC)),
    (zx.ZX_POL_NEW_ANY, lambda z: z.event_create(0)),
])
def test_new_object_policies_cover_every_type(k: Kernel, host: Any, condition: int, create: Any) -> None:
    job = host.zx.job_create(host.zx.job_default(), 0)
    host.zx.job_set_policy(job, zx.ZX_JOB_POL_RELATIVE, zx.ZX_JOB_POL_BASIC_V1,
                           [zx.zx_policy_basic_v1_t(condition, zx.ZX_POL_ACTION_DENY)])
    code, out = _run_in_job(k, host, job, lambda z, out: out.append(status(create, z)))
    assert code == 0 and out == [zx.ZX_ERR_ACCESS_DENIED]
    code, out = _run_in_job(k, host, host.zx.job_default(), lambda z, out: out.append(status(create, z)))
    assert out == [zx.ZX_OK]


def test_job_set_critical(k: Kernel, host: Any) -> None:
    root = host.zx.job_default()
    job = host.zx.job_create(root, 0)
    sub = host.zx.job_create(job, 0)
    proc, _ = host.zx.process_create(sub, "critical", 0)
    other, _ = host.zx.process_create(root, "other", 0)
    assert status(host.zx.job_set_critical, job, 2, proc) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.job_set_critical, 99, 0, proc) == zx.ZX_ERR_BAD_HANDLE
    weak = host.zx.handle_duplicate(job, zx.ZX_RIGHT_INSPECT)
    assert status(host.zx.job_set_critical, weak, 0, proc) == zx.ZX_ERR_ACCESS_DENIED
    nowait = host.zx.handle_duplicate(proc, zx.ZX_RIGHT_INSPECT)
    assert status(host.zx.job_set_critical, job, 0, nowait) == zx.ZX_ERR_ACCESS_DENIED
    assert status(host.zx.job_set_critical, job, 0, job) == zx.ZX_ERR_WRONG_TYPE
    assert status(host.zx.job_set_critical, job, 0, other) == zx.ZX_ERR_INVALID_ARGS
    host.zx.job_set_critical(job, zx.ZX_JOB_CRITICAL_PROCESS_RETCODE_NONZERO, proc)
    assert status(host.zx.job_set_critical, job, 0, proc) == zx.ZX_ERR_ALREADY_BOUND
    thr = host.zx.thread_create(proc, "main", 0)
    host.zx.process_start(proc, thr, lambda a, b: vdso().process_exit(1), 0, 0, 0)
    host.zx.object_wait_one(job, zx.ZX_JOB_TERMINATED, INF)
    info = host.zx.object_get_info(job, zx.ZX_INFO_JOB)
    assert info.return_code == zx.ZX_TASK_RETCODE_CRITICAL_PROCESS_KILL and info.exited


# --------------------------------------------------------------------------- conformance
def make_job(p: Any) -> int:
    return p.zx.job_create(p.zx.job_default(), 0)  # type: ignore[no-any-return]


def make_process(p: Any) -> int:
    proc, vmar = p.zx.process_create(p.zx.job_default(), "conformance-child", 0)
    p.zx.handle_close(vmar)
    return proc  # type: ignore[no-any-return]


def make_thread(p: Any) -> int:
    return p.zx.thread_create(p.zx.process_self(), "conformance-thread", 0)  # type: ignore[no-any-return]


TestTaskConformance = conformance_suite(
    plugins=[], factories={"job": make_job, "process": make_process, "thread": make_thread},
)

TASK_SYSCALLS = (
    "zx_job_create", "zx_job_set_policy", "zx_job_set_critical", "zx_job_default",
    "zx_process_create", "zx_process_start", "zx_process_read_memory", "zx_process_write_memory",
    "zx_thread_create", "zx_thread_start", "zx_task_kill", "zx_object_get_child",
    "zx_task_create_exception_channel", "zx_exception_get_thread", "zx_exception_get_process",
    "zx_task_suspend", "zx_task_suspend_token", "zx_thread_read_state", "zx_thread_write_state",
)


def test_task_syscalls_turn_garbage_into_statuses() -> None:
    with Kernel(seed=1, check_invariants=True, debugging_syscalls=True) as k:
        p = k.create_process("garbage")
        victim = k.create_process("victim")
        job = make_job(p)
        live = [job, make_process(p), make_thread(p), p.zx.vmo_create(0, 0)]
        stale = p.zx.handle_duplicate(job, zx.ZX_RIGHT_SAME_RIGHTS)
        p.zx.handle_close(stale)
        for name in TASK_SYSCALLS:
            spec = k.syscalls.specs[name]
            method = getattr(p.zx, spec.method)
            n = len(spec.params)
            calls = garbage_calls(n)
            for h in (stale, victim.self_handle, p.root_vmar_handle, *live):
                calls.append(tuple([h] + [0] * (n - 1)))
            for args in calls:
                with contextlib.suppress(ZxError):
                    method(*args)
        assert not p.exited


# --------------------------------------------------------------------------- suspend
def test_suspend_tokens(k: Kernel, host: Any) -> None:
    ticks: list[int] = []
    self_status: list[int] = []

    def ticker(a: Any, b: Any) -> None:
        z = vdso()
        for _ in range(1000):
            ticks.append(z.clock_get_monotonic())
            z.nanosleep(z.deadline_after(10_000))

    proc, vmar = new_process(host)
    thr = host.zx.thread_create(proc, "ticker", 0)
    token = host.zx.task_suspend(thr)  # a NEW thread: it starts suspended
    info = host.zx.object_get_info(token, zx.ZX_INFO_HANDLE_BASIC)
    assert info.type == zx.ZX_OBJ_TYPE_SUSPEND_TOKEN and info.rights == zx.ZX_DEFAULT_SUSPEND_TOKEN_RIGHTS
    host.zx.process_start(proc, thr, ticker, 0, 0, 0)
    assert _pending(host, thr) == zx.ZX_THREAD_SUSPENDED
    assert host.zx.object_get_info(thr, zx.ZX_INFO_THREAD).state == zx.ZX_THREAD_STATE_SUSPENDED
    host.zx.nanosleep(host.zx.deadline_after(100_000))
    assert ticks == []
    host.zx.handle_close(token)
    assert _pending(host, thr) == zx.ZX_THREAD_RUNNING
    host.zx.nanosleep(host.zx.deadline_after(100_000))
    assert ticks
    assert host.zx.object_get_info(thr, zx.ZX_INFO_THREAD).state == zx.ZX_THREAD_STATE_BLOCKED_SLEEPING
    # Suspended while blocked: SUSPENDED, then back to the wait after resume.
    ptoken = host.zx.task_suspend(proc)
    ttoken = host.zx.task_suspend(thr)
    assert host.zx.object_get_info(thr, zx.ZX_INFO_THREAD).state == zx.ZX_THREAD_STATE_SUSPENDED
    assert _pending(host, thr) == zx.ZX_THREAD_SUSPENDED
    n = len(ticks)
    host.zx.nanosleep(host.zx.deadline_after(1_000_000))
    assert len(ticks) == n
    host.zx.handle_close(ptoken)  # the thread's own token still holds it
    host.zx.nanosleep(host.zx.deadline_after(1_000_000))
    assert len(ticks) == n
    host.zx.handle_close(ttoken)
    host.zx.nanosleep(host.zx.deadline_after(1_000_000))
    assert len(ticks) > n
    # Errors.
    assert status(host.zx.task_suspend, 99) == zx.ZX_ERR_BAD_HANDLE
    ro = host.zx.handle_duplicate(thr, zx.ZX_RIGHT_INSPECT)
    assert status(host.zx.task_suspend, ro) == zx.ZX_ERR_ACCESS_DENIED
    assert status(host.zx.task_suspend, host.zx.job_default()) == zx.ZX_ERR_WRONG_TYPE
    assert status(host.zx.task_suspend, host.zx.vmo_create(0, 0)) == zx.ZX_ERR_WRONG_TYPE
    host.zx.task_kill(proc)
    assert status(host.zx.task_suspend, proc) == zx.ZX_ERR_BAD_STATE
    assert status(host.zx.task_suspend_token, thr) == zx.ZX_ERR_BAD_STATE
    host.zx.handle_close(vmar)

    # A thread cannot suspend itself, nor a process its own process.
    def selfish(ctx: Any) -> None:
        own = ctx.zx.thread_create(ctx.zx.process_self(), "sibling", 0)
        self_status.append(status(ctx.zx.task_suspend, ctx.zx.process_self()))
        ctx.zx.handle_close(own)

        def inner(h: int) -> None:
            self_status.append(status(vdso().task_suspend, h))

        holder: list[int] = []
        th = ctx.thread(lambda: inner(holder[0]))
        holder.append(th)
        ctx.zx.object_wait_one(th, zx.ZX_THREAD_TERMINATED, INF)

    spawn(k, selfish)
    k.run()
    assert self_status == [zx.ZX_ERR_NOT_SUPPORTED, zx.ZX_ERR_NOT_SUPPORTED]


def test_task_runtime(k: Kernel, host: Any) -> None:
    job = host.zx.job_create(host.zx.job_default(), 0)
    proc, _ = host.zx.process_create(job, "busy", 0)
    thr = host.zx.thread_create(proc, "main", 0)
    for h in (job, proc, thr):
        assert host.zx.object_get_info(h, zx.ZX_INFO_TASK_RUNTIME).cpu_time == 0

    def busy(a: Any, b: Any) -> None:
        for _ in range(10):
            vdso().clock_get_monotonic()

    host.zx.process_start(proc, thr, busy, 0, 0, 0)
    host.zx.object_wait_one(thr, zx.ZX_THREAD_RUNNING, INF)
    # Started, not yet run: it has been waiting for the CPU since it started.
    early = host.zx.object_get_info(job, zx.ZX_INFO_TASK_RUNTIME)
    assert early.cpu_time == 0 and early.queue_time > 0
    host.zx.object_wait_one(proc, zx.ZX_PROCESS_TERMINATED, INF)
    t = host.zx.object_get_info(thr, zx.ZX_INFO_TASK_RUNTIME).cpu_time
    assert t >= 10 * k.syscall_ns
    assert host.zx.object_get_info(proc, zx.ZX_INFO_TASK_RUNTIME).cpu_time == t
    assert host.zx.object_get_info(job, zx.ZX_INFO_TASK_RUNTIME_V1).cpu_time == t
    host.zx.task_kill(job)
    final = host.zx.object_get_info(job, zx.ZX_INFO_TASK_RUNTIME)
    assert final.cpu_time == t and final.queue_time >= early.queue_time  # frozen after death
    vmo = host.zx.vmo_create(0, 0)
    assert status(host.zx.object_get_info, vmo, zx.ZX_INFO_TASK_RUNTIME) == zx.ZX_ERR_WRONG_TYPE
    weak = host.zx.handle_duplicate(vmo, zx.ZX_RIGHT_DUPLICATE)
    assert status(host.zx.object_get_info, weak, zx.ZX_INFO_TASK_RUNTIME) == zx.ZX_ERR_ACCESS_DENIED
    assert status(host.zx.object_get_info, thr, zx.ZX_INFO_TASK_RUNTIME, 16) == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert status(host.zx.object_get_info, thr, zx.ZX_INFO_TASK_RUNTIME_V1, 16) == zx.ZX_OK


def test_a_process_killing_itself_does_not_return(k: Kernel, host: Any) -> None:
    after: list[str] = []

    def suicide(ctx: Any) -> None:
        ctx.zx.task_kill(ctx.zx.process_self())
        after.append("returned")

    p1 = spawn(k, suicide)
    k.run()
    assert p1.exited and p1.exit_code == zx.ZX_TASK_RETCODE_SYSCALL_KILL and after == []
    job = host.zx.job_create(host.zx.job_default(), 0)
    proc, _ = host.zx.process_create(job, "in-job", 0)
    thr = host.zx.thread_create(proc, "main", 0)
    host.zx.process_start(proc, thr, lambda a, b: (vdso().task_kill(a), after.append("x")), 0,
                          host.zx.handle_duplicate(job, zx.ZX_RIGHT_SAME_RIGHTS), 0)
    host.zx.object_wait_one(job, zx.ZX_JOB_TERMINATED, INF)
    assert after == [] and host.zx.object_get_info(proc, zx.ZX_INFO_PROCESS).return_code == -1024


def test_task_invariants_catch_a_broken_tree(k: Kernel, host: Any) -> None:
    proc, _ = new_process(host)
    obj = host.handle(proc).obj
    assert not collect(k)
    obj.state = "dead"  # dead but still listed in its job
    assert any("still listed" in m or "wrongly listed" in m for m in collect(k))
    obj.state = "initial"


def test_microsim_run_exit_status_and_crash_report(tmp_path: Any, capsys: Any) -> None:
    prog = tmp_path / "five.py"
    prog.write_text("def main(ctx):\n    return 5\n")
    assert cli_main(["run", str(prog)]) == 5
    crash = tmp_path / "crash.py"
    crash.write_text("def helper(x):\n    return 1 // x\n\n\ndef main(ctx):\n    helper(0)\n")
    assert cli_main(["run", str(crash)]) == 1
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and 'crash.py", line 2, in helper' in err
    assert "microsim" + "/core" not in err and "runner.py" not in err


def test_thread_read_write_state(k: Kernel, host: Any) -> None:
    proc, _ = new_process(host)
    thr = host.zx.thread_create(proc, "t", 0)
    GR, SS = zx.ZX_THREAD_STATE_GENERAL_REGS, zx.ZX_THREAD_STATE_SINGLE_STEP
    assert status(host.zx.thread_read_state, thr, GR, 160) == zx.ZX_ERR_BAD_STATE  # NEW
    host.zx.process_start(proc, thr, lambda a, b: vdso().nanosleep(INF - 1), 0, 0, 0)
    host.zx.nanosleep(host.zx.deadline_after(100_000))
    assert status(host.zx.thread_read_state, thr, GR, 160) == zx.ZX_ERR_BAD_STATE  # blocked
    token = host.zx.task_suspend(thr)
    assert host.zx.thread_read_state(thr, GR, 200) == bytes(160)
    regs = bytes(range(160))
    host.zx.thread_write_state(thr, GR, regs)
    assert host.zx.thread_read_state(thr, GR, 160) == regs
    assert status(host.zx.thread_read_state, thr, 3, 160) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.thread_read_state, thr, GR, 100) == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert status(host.zx.thread_write_state, thr, GR, b"x") == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert status(host.zx.thread_write_state, thr, SS, (2).to_bytes(4, "little")) == zx.ZX_ERR_INVALID_ARGS
    host.zx.thread_write_state(thr, SS, (1).to_bytes(8, "little"))
    ro = host.zx.handle_duplicate(thr, zx.ZX_RIGHT_READ)
    assert status(host.zx.thread_write_state, ro, GR, regs) == zx.ZX_ERR_ACCESS_DENIED
    assert status(host.zx.thread_read_state, proc, GR, 160) == zx.ZX_ERR_WRONG_TYPE
    host.zx.handle_close(token)
    assert status(host.zx.thread_read_state, thr, GR, 160) == zx.ZX_ERR_BAD_STATE
    host.zx.task_kill(proc)


def test_task_properties(host: Any) -> None:
    proc, _ = new_process(host)
    job = host.zx.job_create(host.zx.job_default(), 0)
    for prop in (zx.ZX_PROP_PROCESS_DEBUG_ADDR, zx.ZX_PROP_PROCESS_BREAK_ON_LOAD):
        assert host.zx.object_get_property(proc, prop) == 0
        host.zx.object_set_property(proc, prop, 0x1234)
        assert host.zx.object_get_property(proc, prop) == 0x1234
        assert status(host.zx.object_get_property, proc, prop, 4) == zx.ZX_ERR_BUFFER_TOO_SMALL
        assert status(host.zx.object_get_property, job, prop) == zx.ZX_ERR_WRONG_TYPE
        assert status(host.zx.object_set_property, proc, prop, -1) == zx.ZX_ERR_INVALID_ARGS
    assert host.zx.object_get_property(proc, zx.ZX_PROP_PROCESS_VDSO_BASE_ADDRESS) == 0
    assert status(host.zx.object_set_property, proc, zx.ZX_PROP_PROCESS_VDSO_BASE_ADDRESS, 1) == (
        zx.ZX_ERR_NOT_SUPPORTED)
    host.zx.object_set_property(job, zx.ZX_PROP_JOB_KILL_ON_OOM, 1)
    assert host.zx.object_get_info(job, zx.ZX_INFO_JOB).kill_on_oom
    assert status(host.zx.object_set_property, job, zx.ZX_PROP_JOB_KILL_ON_OOM, 2) == zx.ZX_ERR_INVALID_ARGS
    assert status(host.zx.object_get_property, job, zx.ZX_PROP_JOB_KILL_ON_OOM) == zx.ZX_ERR_NOT_SUPPORTED
    assert status(host.zx.object_set_property, proc, zx.ZX_PROP_JOB_KILL_ON_OOM, 1) == zx.ZX_ERR_WRONG_TYPE


def test_handle_table_and_handle_stats(k: Kernel, host: Any) -> None:
    a, b = host.zx.channel_create(0)
    other = k.create_process("other")
    moved = k.new_handle(other, host.handle(b).obj, zx.ZX_DEFAULT_CHANNEL_RIGHTS)
    host.zx.handle_close(b)
    table = host.zx.object_get_info(host.zx.process_self(), zx.ZX_INFO_HANDLE_TABLE)
    entry = next(e for e in table if e.handle_value == a)
    assert entry.type == zx.ZX_OBJ_TYPE_CHANNEL and entry.peer_owner_koid == other.koid
    assert entry.rights == zx.ZX_DEFAULT_CHANNEL_RIGHTS and table.avail == len(host.handles)
    assert len(host.zx.object_get_info(host.zx.process_self(), zx.ZX_INFO_HANDLE_TABLE, 40)) == 1
    weak = host.zx.handle_duplicate(host.zx.process_self(), zx.ZX_RIGHT_INSPECT)
    assert status(host.zx.object_get_info, weak, zx.ZX_INFO_HANDLE_TABLE) == zx.ZX_ERR_ACCESS_DENIED
    stats = host.zx.object_get_info(host.zx.process_self(), zx.ZX_INFO_PROCESS_HANDLE_STATS)
    assert stats.handle_count[zx.ZX_OBJ_TYPE_CHANNEL] == 1
    assert stats.handle_count[zx.ZX_OBJ_TYPE_PROCESS] == 2 and len(stats.pack()) == 256
    assert status(host.zx.object_get_info, host.zx.process_self(), zx.ZX_INFO_PROCESS_HANDLE_STATS, 8) == (
        zx.ZX_ERR_BUFFER_TOO_SMALL)
    del moved
