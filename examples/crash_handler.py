"""A crash handler: it watches a job's exception channel and reports each crashed child.

The handler makes a job, binds an exception channel to it, and starts three workers in
that job: one finishes, one divides by zero (ZX_EXCP_GENERAL), one reads an unmapped
address (ZX_EXCP_FATAL_PAGE_FAULT). For each exception message it fetches the thread and
process from the exception, prints a report, and closes the exception without handling
it: the kernel then kills the crashed process with ZX_TASK_RETCODE_EXCEPTION_KILL.

    microsim run examples/crash_handler.py
"""

from __future__ import annotations

from microsim import zx

INF = zx.ZX_TIME_INFINITE


def worker_ok(ctx) -> int:  # type: ignore[no-untyped-def]
    """Finishes normally."""
    return 0


def worker_divide(ctx) -> int:  # type: ignore[no-untyped-def]
    """Crashes with a Python exception."""
    items = ctx.args
    return len(items) // (len(items) - len(items))


def worker_fault(ctx) -> int:  # type: ignore[no-untyped-def]
    """Crashes by reading memory that is not mapped."""
    ctx.process.read_memory(0x1000, 4)
    return 0


def name_of(ctx, handle: int) -> str:  # type: ignore[no-untyped-def]
    """A task's name."""
    return bytes(ctx.zx.object_get_property(handle, zx.ZX_PROP_NAME)).decode()


def main(ctx) -> int:  # type: ignore[no-untyped-def]
    """Start the workers in a watched job; report every crash."""
    job = ctx.zx.job_create(ctx.zx.job_default(), 0)
    ctx.zx.object_set_property(job, zx.ZX_PROP_NAME, b"workers")
    channel = ctx.zx.task_create_exception_channel(job, 0)
    for worker in (worker_ok, worker_divide, worker_fault):
        ctx.spawn(worker, name=worker.__name__, job=job)

    crashes = 0
    while True:
        pending = ctx.zx.object_wait_many(
            [(channel, zx.ZX_CHANNEL_READABLE), (job, zx.ZX_JOB_NO_PROCESSES)], INF
        )
        if pending[0] & zx.ZX_CHANNEL_READABLE:
            data, (exception,) = ctx.zx.channel_read(channel, 0)
            info = zx.zx_exception_info_t.unpack(data)
            process = ctx.zx.exception_get_process(exception)
            thread = ctx.zx.exception_get_thread(exception)
            kind = "page fault" if info.type == zx.ZX_EXCP_FATAL_PAGE_FAULT else "general"
            print(f"crash: process {name_of(ctx, process)!r} (pid {info.pid}) thread "
                  f"{name_of(ctx, thread)!r} (tid {info.tid}): {kind} exception {info.type:#x}")
            ctx.zx.handle_close_many([thread, exception])  # not handled: the process dies
            ctx.zx.object_wait_one(process, zx.ZX_PROCESS_TERMINATED, INF)
            code = ctx.zx.object_get_info(process, zx.ZX_INFO_PROCESS).return_code
            print(f"       killed with return code {code}")
            ctx.zx.handle_close(process)
            crashes += 1
        elif pending[1] & zx.ZX_JOB_NO_PROCESSES:
            break
    ctx.zx.handle_close_many([channel, job])
    print(f"{crashes} crashed workers")
    return 0 if crashes == 2 else 1
