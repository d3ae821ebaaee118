"""Threads, the deterministic scheduler, virtual time and blocking waits.

Simulated threads are greenlets: a program is ordinary synchronous Python, and a syscall
that must block (a wait, a sleep, a read on an empty channel through a wait) switches to
the scheduler. Threads interleave only at syscall boundaries: at each syscall entry, when
another thread is runnable, the scheduler picks which runs next with its seeded PRNG, so a
seed fixes the interleaving and the trace.

Virtual time (`kernel.now`, nanoseconds) advances by a fixed cost per syscall and jumps
to the earliest deadline when every thread is blocked. With no deadline left and threads
still blocked, the run stops with `Deadlock`, naming each blocked thread and its wait.

A wait made directly from Python (outside `kernel.run()`, e.g. in a test) drives the
scheduler itself until the wait is satisfied, so tests can wait on simulated programs.
"""

from __future__ import annotations

import contextlib
import heapq
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import greenlet

from microsim import zx
from microsim.core.object import KernelObject, SignalObserver
from microsim.errors import Deadlock, ZxError

if TYPE_CHECKING:
    from microsim.core.handle import Handle
    from microsim.kernel import Kernel
    from microsim.objects.thread import Thread


class ThreadExit(BaseException):
    """Thrown into a thread's greenlet to end it (its process is exiting)."""


class Wait:
    """Something a blocked thread (or a direct caller) is waiting for."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.done = False
        self.status = zx.ZX_OK
        self.thread: Thread | None = None

    def cancel(self) -> None:
        """Stop observing whatever the wait observes (timeout or wake-up)."""


class SignalWait(Wait):
    """A wait on signals of one or more objects (wait_one / wait_many)."""

    def __init__(self, items: list[tuple[KernelObject, Handle, int]], description: str) -> None:
        super().__init__(description)
        self.items = items
        self.observers: list[_WaitObserver] = []
        self.observed = [0] * len(items)

    def arm(self, sched: Scheduler) -> None:
        """Register one observer per item."""
        for i, (obj, handle, mask) in enumerate(self.items):
            obs = _WaitObserver(handle, self, i, mask, sched)
            self.observers.append(obs)
            obj.add_observer(obs)

    def cancel(self) -> None:
        for obs, (obj, _, _) in zip(self.observers, self.items):
            obj.remove_observer(obs)


class _WaitObserver(SignalObserver):
    __slots__ = ("index", "mask", "sched", "wait")

    def __init__(self, handle: Handle, wait: SignalWait, index: int, mask: int, sched: Scheduler) -> None:
        super().__init__(handle)
        self.wait = wait
        self.index = index
        self.mask = mask
        self.sched = sched

    def on_signals(self, obj: KernelObject, signals: int) -> bool:
        w = self.wait
        if w.done:
            return True
        if signals & self.mask:
            for i, (o, _, _) in enumerate(w.items):
                w.observed[i] = o.signals
            w.observed[self.index] = signals
            self.sched.finish(w, zx.ZX_OK)
            return True
        return False

    def is_live(self) -> bool:
        w = self.wait
        if w.done:
            return False
        # Someone is still waiting: the blocked thread, or a direct caller driving the run.
        return w.thread.wait is w if w.thread is not None else w in self.sched.direct_waits

    def on_cancel(self, obj: KernelObject) -> None:
        w = self.wait
        if w.done:
            return
        w.observed[self.index] = obj.signals | zx.ZX_SIGNAL_HANDLE_CLOSED
        self.sched.finish(w, zx.ZX_ERR_CANCELED)


class Scheduler:
    """Runs threads one at a time; picks the next with a seeded PRNG."""

    def __init__(self, kernel: Kernel, seed: int) -> None:
        self.kernel = kernel
        self.rng = random.Random(f"sched:{seed}")
        self._random = self.rng.random
        self.current: Thread | None = None
        self.runnable: list[Thread] = []
        self.threads: list[Thread] = []
        self.timers: list[tuple[int, int, Wait]] = []
        self._timer_seq = 0
        self.main: greenlet.greenlet | None = None
        self.running = False
        self.switches = 0
        self.direct_waits: list[Wait] = []  # waits of direct calls from Python, in progress

    # ------------------------------------------------------------------ threads
    def add_thread(self, thread: Thread) -> None:
        """Make a new thread runnable."""
        self.threads.append(thread)
        thread.state = "runnable"
        self.runnable.append(thread)
        self._update_preempt()
        k = self.kernel
        if k.trace is not None:
            k.emit("thread_state", thread.koid, "start", "")

    def _update_preempt(self) -> None:
        self.kernel.preempt = self.current is not None and bool(self.runnable)

    def live_threads(self) -> list[Thread]:
        """Threads that have not exited."""
        return [t for t in self.threads if t.state != "dead"]

    def preempt(self) -> None:
        """A preemption point (syscall entry): maybe let another runnable thread run."""
        t = self.current
        if t is None or not self.runnable or self.main is None:
            return
        # rng.random() is several times cheaper than randrange() and just as seeded.
        if int(self._random() * (len(self.runnable) + 1)) == 0:
            return  # the current thread keeps running
        t.state = "runnable"
        self.runnable.append(t)
        self._switch_out(t)

    def _switch_out(self, t: Thread) -> None:
        k = self.kernel
        t.ctx = (k.cur_sc, k.cur_pid, k.cur_tid)
        assert self.main is not None
        self.main.switch()
        k.cur_sc, k.cur_pid, k.cur_tid = t.ctx
        if t.killed:
            raise ThreadExit

    # ------------------------------------------------------------------ waiting
    def block(self, wait: Wait, deadline: int) -> int:
        """Block the caller until `wait` finishes or `deadline` passes; return status."""
        k = self.kernel
        if deadline != zx.ZX_TIME_INFINITE:
            self._timer_seq += 1
            heapq.heappush(self.timers, (deadline, self._timer_seq, wait))
        t = self.current
        if t is None or greenlet.getcurrent() is not t.glet:
            # A direct call from Python: drive the simulation until the wait ends. If it
            # cannot end (Deadlock) or the run fails, the wait is withdrawn: no waiter or
            # observer stays behind.
            self.direct_waits.append(wait)
            try:
                self.run(until=lambda: wait.done)
            except BaseException:
                if not wait.done:
                    wait.done = True
                    wait.status = zx.ZX_ERR_CANCELED
                    wait.cancel()
                raise
            finally:
                self.direct_waits.remove(wait)
            return wait.status
        wait.thread = t
        t.state = "blocked"
        t.wait = wait
        t.deadline = deadline
        if k.trace is not None:
            k.emit("thread_state", t.koid, "blocked", wait.description)
        self._switch_out(t)
        t.wait = None
        return wait.status

    def finish(self, wait: Wait, status: int) -> None:
        """End a wait (satisfied, timed out, cancelled) and wake its thread."""
        if wait.done:
            return
        wait.done = True
        wait.status = status
        wait.cancel()
        t = wait.thread
        if t is not None and t.state == "blocked":
            t.state = "runnable"
            t.wake_status = status
            self.runnable.append(t)
            self._update_preempt()
            k = self.kernel
            if k.trace is not None:
                k.emit("thread_state", t.koid, "woken", zx.zx_status_get_string(status))

    def _expire_timers(self) -> bool:
        """Advance time to the earliest pending deadline and time out those waits."""
        timers = self.timers
        while timers and timers[0][2].done:
            heapq.heappop(timers)
        if not timers:
            return False
        deadline = timers[0][0]
        k = self.kernel
        if deadline > k.now:
            k.now = deadline
        while timers and timers[0][0] <= k.now:
            _, _, wait = heapq.heappop(timers)
            if not wait.done:
                self.finish(wait, zx.ZX_ERR_TIMED_OUT)
        return True

    # ------------------------------------------------------------------ the loop
    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Run threads until all exit (or `until()` is true); raise `Deadlock` if stuck."""
        if self.running:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the scheduler is already running")
        self.running = True
        self.main = greenlet.getcurrent()
        k = self.kernel
        try:
            while True:
                if until is not None and until():
                    return
                runnable = self.runnable
                if runnable:
                    n = len(runnable)
                    t = runnable.pop(int(self._random() * n) if n > 1 else 0)
                    if t.state == "dead":
                        continue
                    self.current = t
                    t.state = "running"
                    k.preempt = bool(runnable)
                    if t.glet is None:
                        t.glet = greenlet.greenlet(self._thread_main, parent=self.main)
                        k.cur_sc, k.cur_pid, k.cur_tid = 0, t.process.koid, t.koid
                        t.ctx = (0, t.process.koid, t.koid)
                    self.switches += 1
                    t.glet.switch(t)
                    self.current = None
                    k.preempt = False
                    k.cur_sc, k.cur_pid, k.cur_tid = 0, 0, 0
                    continue
                if self._expire_timers():
                    continue
                blocked = [t for t in self.threads if t.state == "blocked"]
                if not blocked:
                    if until is not None and not until():
                        raise Deadlock("the wait can never be satisfied: no thread can run")
                    return
                lines = [
                    f"{t.process.name.decode(errors='replace')}/{t.name.decode(errors='replace')}"
                    f" (tid {t.koid}): {t.wait.description if t.wait else '?'}"
                    for t in blocked
                ]
                raise Deadlock(
                    "deadlock: every thread is blocked with no deadline:\n  " + "\n  ".join(lines),
                    lines,
                )
        finally:
            self.running = False
            self.main = None
            self.current = None
            k.preempt = False

    def _thread_main(self, t: Thread) -> None:
        k = self.kernel
        try:
            t.result = t.entry(*t.args)
        except ThreadExit:
            pass
        except BaseException as exc:
            t.error = exc
        finally:
            self._thread_exited(t)
        k.cur_sc, k.cur_pid, k.cur_tid = 0, 0, 0

    def _thread_exited(self, t: Thread) -> None:
        k = self.kernel
        t.state = "dead"
        if t.wait is not None:
            t.wait.cancel()
        if k.trace is not None:
            k.emit(
                "thread_state",
                t.koid,
                "exit",
                "" if t.error is None else f"{type(t.error).__name__}: {t.error}",
            )
        t.update_signals(zx.ZX_THREAD_RUNNING, zx.ZX_THREAD_TERMINATED)
        proc = t.process
        if t in proc.threads:
            proc.threads.remove(t)
        t.release()
        if not proc.threads and not proc.exited:
            k.exit_process(proc, 0 if t.error is None else -1)

    def kill(self, t: Thread) -> None:
        """End a thread because its process exits.

        A thread that never ran just dies. A running or blocked one is marked and made
        runnable; it unwinds with `ThreadExit` when it next gets the CPU (or at once, if it
        is the caller: the caller's syscall raises `ThreadExit` after the exit is done).
        """
        if t.state == "dead":
            return
        if t.glet is None:
            t.state = "dead"
            if t in self.runnable:
                self.runnable.remove(t)
            self._thread_exited(t)
            return
        t.killed = True
        if t.state == "blocked":
            if t.wait is not None:
                t.wait.cancel()
                t.wait.done = True
            t.state = "runnable"
            self.runnable.append(t)
            self._update_preempt()

    def shutdown(self) -> None:
        """Unwind every thread still suspended (the kernel is closing)."""
        for t in list(self.threads):
            if t.state == "dead":
                continue
            t.killed = True
            if t.glet is not None and not t.glet.dead:
                if t.wait is not None:
                    t.wait.cancel()
                    t.wait.done = True
                with contextlib.suppress(ThreadExit):
                    t.glet.throw(ThreadExit)
            if t.state != "dead":
                t.state = "dead"
                self._thread_exited(t)
