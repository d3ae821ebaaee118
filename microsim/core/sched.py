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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import greenlet

from microsim import zx
from microsim.errors import Deadlock, ZxError

if TYPE_CHECKING:
    from microsim.kernel import Kernel
    from microsim.objects.thread import Thread


class SchedulingStrategy(Protocol):
    """What `Scheduler.set_strategy` accepts (see `RandomStrategy`)."""

    def preempt(self, current: Thread, runnable: list[Thread]) -> bool:
        """At a syscall entry of `current`: switch away from it?"""

    def pick(self, runnable: list[Thread]) -> int:
        """The index in `runnable` (two or more threads) of the thread to run next."""


class RandomStrategy:
    """The default scheduling strategy: seeded random choices.

    A strategy makes every scheduling decision (see `Scheduler.set_strategy`):
    `preempt(current, runnable)` at a syscall entry while other threads are runnable
    (True: switch away; the next `pick` then chooses among `runnable`, which now ends with
    `current`), and `pick(runnable)` when the loop must choose among two or more runnable
    threads (returns an index into `runnable`). Exploration strategies live in
    `microsim.explore`.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"sched:{seed}")
        self._random = self.rng.random

    def preempt(self, current: Thread, runnable: list[Thread]) -> bool:
        """Switch away from `current` with probability n/(n+1) for n runnable threads."""
        # rng.random() is several times cheaper than randrange() and just as seeded;
        # `x >= 1.0` is `int(x) != 0` for the non-negative x here, without the int().
        return self._random() * (len(runnable) + 1) >= 1.0

    def pick(self, runnable: list[Thread]) -> int:
        """A uniformly random index into `runnable`."""
        return int(self._random() * len(runnable))


class ThreadExit(BaseException):
    """Thrown into a thread's greenlet to end it (its process is exiting)."""


_SLEEPING = zx.ZX_THREAD_STATE_BLOCKED_SLEEPING
_INFINITE = zx.ZX_TIME_INFINITE
_getcurrent = greenlet.getcurrent


class Wait:
    """Something a blocked thread (or a direct caller) is waiting for.

    `description` says what for, in deadlock reports and the trace: a string, or a
    zero-argument callable that is only called when the text is needed (a hot wait
    should not format a string it will almost never show); a subclass may override
    `describe()` instead. `reason` is the ZX_THREAD_STATE_BLOCKED_* state ZX_INFO_THREAD
    reports while the thread waits. `kernel.sched.block(wait, deadline)` blocks on it,
    `kernel.sched.finish(wait, status)` ends it; `cancel()` runs whenever the wait ends
    (woken, timed out, or its thread killed): override it to unregister the wait.

    Plugins rarely need this class directly: `microsim.blocking` (`WaitQueue`,
    `wait_signals`, `sleep_until`) covers the usual blocking syscalls.
    """

    def __init__(self, description: str | Callable[[], str] = "", reason: int = _SLEEPING) -> None:
        self._description = description
        self.reason = reason
        self.done = False
        self.status = zx.ZX_OK
        self.thread: Thread | None = None

    @property
    def description(self) -> str:
        """What the wait is for (formatted now, if it was given as a callable)."""
        return self.describe()

    @description.setter
    def description(self, value: str | Callable[[], str]) -> None:
        self._description = value

    def describe(self) -> str:
        """The description text; override to format it from the wait's own fields."""
        d = self._description
        return d if isinstance(d, str) else d()

    def cancel(self) -> None:
        """Stop observing whatever the wait observes (runs on wake, timeout and kill)."""

    def in_progress(self, sched: Scheduler) -> bool:
        """Whether a blocked thread, or a direct caller driving the run, still waits on it
        (observers serving a wait use it for `SignalObserver.is_live`)."""
        if self.done:
            return False
        t = self.thread
        return t.wait is self if t is not None else self in sched.direct_waits


class Deadline(Wait):
    """A callback the scheduler runs when virtual time reaches a deadline (a timer).

    Made by `Scheduler.call_at`; `Scheduler.cancel_deadline` disarms it. While any is
    armed, every syscall entry checks for due deadlines, so a deadline fires when time
    passes it even if some thread never blocks; when every thread is blocked, time jumps
    to the earliest deadline, callbacks and wait timeouts alike.
    """

    def __init__(self, fn: Callable[[], None], description: str) -> None:
        super().__init__(description)
        self.fn = fn


class ThreadGreenlet(greenlet.greenlet):
    """The greenlet of a simulated thread; `thread` names it (for `current_thread()`)."""

    thread: Thread | None = None


class Scheduler:
    """Runs threads one at a time; picks the next with a seeded PRNG."""

    def __init__(self, kernel: Kernel, seed: int) -> None:
        self.kernel = kernel
        default = RandomStrategy(seed)
        self.strategy: SchedulingStrategy = default
        self.rng = default.rng
        self._should_preempt = self.strategy.preempt
        self._pick = self.strategy.pick
        self.current: Thread | None = None
        self.runnable: list[Thread] = []
        self.threads: list[Thread] = []
        self.timers: list[tuple[int, int, Wait]] = []
        self._timer_seq = 0
        self.armed_deadlines = 0
        self.main: greenlet.greenlet | None = None
        self.running = False
        self._direct = False  # threads may hand the CPU to each other (see `run`)
        self.switches = 0
        self.direct_waits: list[Wait] = []  # waits of direct calls from Python, in progress
        # The syscall entering at the current preemption point, and its arguments.
        self.entering: tuple[str, Sequence[Any]] = ("", ())
        # Set when a run stopped in a deadlock (the trace says why processes ended).
        self.deadlocked = False

    def set_strategy(self, strategy: SchedulingStrategy) -> None:
        """Route every scheduling decision through `strategy` (same methods as
        `RandomStrategy`: `preempt(current, runnable)` and `pick(runnable)`)."""
        self.strategy = strategy
        self._should_preempt = strategy.preempt
        self._pick = strategy.pick

    # ------------------------------------------------------------------ threads
    def add_thread(self, thread: Thread) -> None:
        """Make a new thread runnable."""
        self.threads.append(thread)
        thread.state = "runnable"
        self.runnable.append(thread)
        thread.ready_at = self.kernel.now
        self._update_preempt()
        k = self.kernel
        if k.trace is not None:
            k.emit("thread_state", thread.koid, "start", "")

    def _update_preempt(self) -> None:
        self.kernel.preempt = (self.current is not None and bool(self.runnable)) or self.armed_deadlines > 0

    def live_threads(self) -> list[Thread]:
        """Threads that have not exited."""
        return [t for t in self.threads if t.state != "dead"]

    def preempt(self, syscall: str = "", args: Sequence[Any] = ()) -> None:
        """A preemption point (the entry of `syscall`, called with `args`): maybe let
        another runnable thread run. The syscall and its arguments stay in `entering` for
        the strategy to look at (an exploring strategy skips choices that cannot matter)."""
        self.entering = (syscall, args)
        if self.armed_deadlines:
            self.fire_due()
        t = self.current
        if t is None or not self.runnable or self.main is None:
            return
        if not self._should_preempt(t, self.runnable):
            return  # the current thread keeps running
        t.state = "runnable"
        self.runnable.append(t)
        t.ready_at = self.kernel.now
        self._switch_out(t)

    def _switch_out(self, t: Thread) -> None:
        """Take the running thread `t` (made runnable or blocked) off the CPU; return when
        it is given the CPU again.

        When `run`'s loop would pick the next thread at once (others are runnable, no
        `until`), that is done here: end `t`'s slice, pick, start the next slice, and
        switch straight to the thread picked; one greenlet switch instead of two, the same
        decisions in the same order. Otherwise (or if every thread popped was dead) the
        loop takes over.
        """
        k = self.kernel
        t.ctx = (k.cur_sc, k.cur_pid, k.cur_tid)
        runnable = self.runnable
        if self._direct and runnable:
            # The loop's end of a slice: the strategy picks in the same state as there.
            t.runtime += k.now - t.run_start
            self.current = None
            k.preempt = self.armed_deadlines > 0
            k.cur_sc, k.cur_pid, k.cur_tid = 0, 0, 0
            while runnable:
                u = runnable.pop(self._pick(runnable) if len(runnable) > 1 else 0)
                if u.state == "dead":
                    continue
                self.current = u
                u.state = "running"
                k.preempt = bool(runnable) or self.armed_deadlines > 0
                self.switches += 1
                u.run_start = now = k.now
                u.queue_time += now - u.ready_at
                if u is not t:  # (picked again, it just keeps the CPU)
                    glet = u.glet
                    if glet is None:
                        glet = self._new_greenlet(u)
                    glet.switch(u)
                break
            else:  # every thread popped was dead: the loop goes on (`current` is None)
                assert self.main is not None
                self.main.switch()
        else:
            assert self.main is not None
            self.main.switch()
        k.cur_sc, k.cur_pid, k.cur_tid = t.ctx
        if t.killed:
            raise ThreadExit

    def _new_greenlet(self, t: Thread) -> ThreadGreenlet:
        """The greenlet of a thread about to run for the first time."""
        k = self.kernel
        glet = ThreadGreenlet(self._thread_main, parent=self.main)
        glet.thread = t
        t.glet = glet
        k.cur_sc, k.cur_pid, k.cur_tid = 0, t.process.koid, t.koid
        t.ctx = (0, t.process.koid, t.koid)
        return glet

    # ------------------------------------------------------------------ waiting
    def block(self, wait: Wait, deadline: int) -> int:
        """Block the caller until `wait` finishes or `deadline` passes; return status."""
        k = self.kernel
        if deadline != _INFINITE:
            self._timer_seq += 1
            heapq.heappush(self.timers, (deadline, self._timer_seq, wait))
        t = self.current
        if t is None or _getcurrent() is not t.glet:
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
            t.wake_status = status
            if t.suspended:
                # Suspended while blocked: it stays off the CPU until resumed.
                t.state = "suspended"
                t.update_signals(zx.ZX_THREAD_RUNNING, zx.ZX_THREAD_SUSPENDED)
                return
            t.state = "runnable"
            self.runnable.append(t)
            k = self.kernel
            t.ready_at = k.now
            # _update_preempt() with a runnable thread known to exist (a wake is hot).
            k.preempt = self.current is not None or self.armed_deadlines > 0
            if k.trace is not None:
                k.emit("thread_state", t.koid, "woken", zx.zx_status_get_string(status))

    # ------------------------------------------------------------------ deadlines
    def call_at(self, deadline: int, fn: Callable[[], None], description: str = "deadline") -> Deadline:
        """Run `fn()` once virtual time reaches `deadline` (see `Deadline`)."""
        d = Deadline(fn, description)
        self._timer_seq += 1
        heapq.heappush(self.timers, (deadline, self._timer_seq, d))
        self.armed_deadlines += 1
        self._update_preempt()
        return d

    def cancel_deadline(self, d: Deadline) -> None:
        """Disarm a deadline made by `call_at` (no effect if it fired already)."""
        if not d.done:
            d.done = True
            self.armed_deadlines -= 1
            self._update_preempt()
            timers = self.timers
            if len(timers) > 1024 and self.armed_deadlines < len(timers) // 4:
                # Many disarmed entries far in the future: drop them (lazy deletion's bound).
                self.timers = [e for e in timers if not e[2].done]
                heapq.heapify(self.timers)

    def _expire(self, wait: Wait) -> None:
        if isinstance(wait, Deadline):
            wait.done = True
            self.armed_deadlines -= 1
            self._update_preempt()
            wait.fn()
        else:
            self.finish(wait, zx.ZX_ERR_TIMED_OUT)

    def fire_due(self) -> None:
        """Expire every deadline at or before the current virtual time."""
        timers = self.timers
        now = self.kernel.now
        while timers and timers[0][0] <= now:
            _, _, wait = heapq.heappop(timers)
            if not wait.done:
                self._expire(wait)

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
                self._expire(wait)
        return True

    def _any_blocked(self) -> bool:
        return any(t.state == "blocked" for t in self.threads)

    # ------------------------------------------------------------------ the loop
    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Run threads until all exit (or `until()` is true); raise `Deadlock` if stuck."""
        if self.running:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the scheduler is already running")
        self.running = True
        # Without `until`, a thread leaving the CPU may pick the next one itself.
        self._direct = until is None
        self.deadlocked = False  # this run's own outcome decides
        self.main = greenlet.getcurrent()
        k = self.kernel
        try:
            while True:
                if until is not None and until():
                    return
                runnable = self.runnable
                if runnable:
                    n = len(runnable)
                    t = runnable.pop(self._pick(runnable) if n > 1 else 0)
                    if t.state == "dead":
                        continue
                    self.current = t
                    t.state = "running"
                    k.preempt = bool(runnable) or self.armed_deadlines > 0
                    glet = t.glet
                    if glet is None:
                        glet = self._new_greenlet(t)
                    self.switches += 1
                    t.run_start = k.now
                    t.queue_time += k.now - t.ready_at
                    glet.switch(t)
                    # Back from whichever thread ran last (threads hand the CPU to each
                    # other directly, see _switch_out); None: it ended its slice itself.
                    last = self.current
                    if last is not None and last.state != "dead":  # virtual CPU time
                        last.runtime += k.now - last.run_start
                    self.current = None
                    k.preempt = self.armed_deadlines > 0
                    k.cur_sc, k.cur_pid, k.cur_tid = 0, 0, 0
                    continue
                if (until is not None or self._any_blocked()) and self._expire_timers():
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
                self.deadlocked = True
                if k.trace is not None:
                    k.emit("deadlock", [
                        {"tid": t.koid, "pid": t.process.koid,
                         "process": t.process.name.decode(errors="replace"),
                         "thread": t.name.decode(errors="replace"),
                         "wait": t.wait.description if t.wait else "?"}
                        for t in blocked
                    ])
                raise Deadlock(
                    "deadlock: every thread is blocked with no deadline:\n  " + "\n  ".join(lines),
                    lines,
                )
        finally:
            self.running = False
            self._direct = False
            self.main = None
            self.current = None
            k.preempt = self.armed_deadlines > 0

    def _thread_main(self, t: Thread) -> None:
        k = self.kernel
        try:
            assert t.entry is not None
            if k.debuggers_bound:
                k.lifecycle_hook(t, zx.ZX_EXCP_THREAD_STARTING)
            t.result = t.entry(*t.args)
        except ThreadExit:
            pass
        except BaseException as exc:
            t.error = exc
            with contextlib.suppress(ThreadExit):
                self._uncaught(t, exc)
        finally:
            if k.debuggers_bound:
                with contextlib.suppress(ThreadExit):
                    k.lifecycle_hook(t, zx.ZX_EXCP_THREAD_EXITING)
            self._thread_exited(t)
        k.cur_sc, k.cur_pid, k.cur_tid = 0, 0, 0

    def _uncaught(self, t: Thread, exc: BaseException) -> None:
        """An exception escaped a thread's code: raise a Zircon exception (the kernel's
        `exception_hook` delivers it); unhandled, the process is killed."""
        hook = self.kernel.exception_hook
        if hook is not None and not t.killed:
            hook(t, exc)
            return
        t.process.kill(zx.ZX_TASK_RETCODE_EXCEPTION_KILL, "exception")

    def _thread_exited(self, t: Thread) -> None:
        k = self.kernel
        if self.current is t:
            t.runtime += k.now - t.run_start
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
        t.update_signals(zx.ZX_THREAD_RUNNING | zx.ZX_THREAD_SUSPENDED, zx.ZX_THREAD_TERMINATED)
        exc = t.exceptionate
        if exc is not None:
            exc.shutdown()
        t.process.thread_exited(t)
        t.release()

    def kill(self, t: Thread) -> None:
        """End a thread because its process exits.

        A thread that never ran just dies. A running or blocked one is marked and made
        runnable; it unwinds with `ThreadExit` when it next gets the CPU (or at once, if it
        is the caller: the caller's syscall raises `ThreadExit` after the exit is done).
        """
        if t.state == "dead" or t.state == "new":
            return  # a never-started thread is not killed (Zircon: it stays NEW)
        if t.glet is None:
            t.state = "dead"
            if t in self.runnable:
                self.runnable.remove(t)
            self._thread_exited(t)
            return
        t.killed = True
        if t.state == "blocked" or t.state == "suspended":
            if t.state == "blocked" and t.wait is not None:
                t.wait.cancel()
                t.wait.done = True
            t.state = "runnable"
            self.runnable.append(t)
            t.ready_at = self.kernel.now
            self._update_preempt()

    def set_suspended(self, t: Thread, on: bool) -> None:
        """Take a started thread off the CPU (`on`) or give it back (zx_task_suspend).

        A runnable thread leaves the run queue; a blocked one stays in its wait and goes
        SUSPENDED when the wait ends. A thread blocked in an exception keeps reporting
        BLOCKED_EXCEPTION (and its signals) until the exception is resolved.
        """
        if on:
            if t.state == "runnable":
                if t in self.runnable:
                    self.runnable.remove(t)
                t.state = "suspended"
                self._update_preempt()
            w = t.wait
            if not (t.state == "blocked" and w is not None
                    and w.reason == zx.ZX_THREAD_STATE_BLOCKED_EXCEPTION):
                t.update_signals(zx.ZX_THREAD_RUNNING, zx.ZX_THREAD_SUSPENDED)
        else:
            if t.state == "suspended":
                t.state = "runnable"
                self.runnable.append(t)
                t.ready_at = self.kernel.now
                self._update_preempt()
            t.update_signals(zx.ZX_THREAD_SUSPENDED, zx.ZX_THREAD_RUNNING)

    def reap(self) -> None:
        """Unwind killed threads now when called from outside the scheduler (a direct
        call from Python), so a kill completes synchronously; inside a run they unwind
        when they next get the CPU."""
        if self.running:
            return
        for t in list(self.threads):
            if t.killed and t.state != "dead" and t.glet is not None and not t.glet.dead:
                if t.wait is not None:
                    t.wait.cancel()
                    t.wait.done = True
                with contextlib.suppress(ThreadExit):
                    t.glet.throw(ThreadExit)

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
