"""Blocking syscalls: the public API a plugin (or the core) uses to make a thread wait.

A simulated thread blocks only inside a syscall, and only through these calls. Each
returns when the wait is satisfied, or raises `ZxError`:

- `ZX_ERR_TIMED_OUT` when virtual time reaches `deadline` first (a deadline at or before
  `kernel.now` times out at once, without blocking; ZX_TIME_INFINITE never does);
- `ZX_ERR_CANCELED` when the handle the wait was made through is closed (or transferred)
  meanwhile, as Zircon does for zx_object_wait_one;
- whatever status the waker passed (`WaitQueue.wake_all(status=ZX_ERR_PEER_CLOSED)`).

The calls:

- `wait_signals(handle, signals, deadline)`: until any of `signals` is asserted on the
  handle's object; returns the observed signals (zx_object_wait_one is this call).
- `wait_signals_many(kernel, entries, deadline)`: the same over several handles (wait_many).
- `WaitQueue`: a FIFO of threads blocked on one object. A syscall calls
  `queue.wait(deadline, handle=h)`; another wakes it with `queue.wake_one(value)` (the
  value is what `wait` returns) or `queue.wake_all(status=...)`.
- `sleep_until(kernel, deadline)`: zx_nanosleep.

Virtual time is `kernel.now` (nanoseconds); `deadline_after(kernel, ns)` is
zx_deadline_after. Every wait takes `reason`, the ZX_THREAD_STATE_BLOCKED_* state
ZX_INFO_THREAD shows while it blocks, and `description`, what a deadlock report and the
trace say the thread waits for (a string, or a callable formatted only when needed).

A call made directly from Python (a test, outside `kernel.run()`) drives the scheduler
until the wait ends; when no thread can end it, `Deadlock` names every blocked thread.

Lower level, for a wait none of these fits: subclass `Wait` (override `cancel()` to
unregister it), `kernel.sched.block(wait, deadline)` returns the status given to
`kernel.sched.finish(wait, status)`, ZX_ERR_TIMED_OUT at the deadline.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from microsim import zx
from microsim.core.object import KernelObject, SignalObserver
from microsim.core.sched import Wait
from microsim.errors import ZxError

if TYPE_CHECKING:
    from microsim.core.handle import Handle
    from microsim.kernel import Kernel
    from microsim.objects.thread import Thread

__all__ = [
    "Wait",
    "WaitQueue",
    "deadline_after",
    "slack_fire_time",
    "sleep_until",
    "wait_signals",
    "wait_signals_many",
]

_OK = zx.ZX_OK
_TIMED_OUT = zx.ZX_ERR_TIMED_OUT
_CANCELED = zx.ZX_ERR_CANCELED
_INFINITE = zx.ZX_TIME_INFINITE
_HANDLE_CLOSED = zx.ZX_SIGNAL_HANDLE_CLOSED

Description = str | Callable[[], str]


def slack_fire_time(kernel: Kernel, deadline: int, slack: int, mode: int) -> int:
    """When a deadline with `slack` fires: a time in Zircon's window for `mode`
    (ZX_TIMER_SLACK_CENTER [d-s, d+s], _EARLY [d-s, d], _LATE [d, d+s]), never before now,
    drawn from the seed; `deadline` itself with no slack or an infinite deadline."""
    if slack <= 0 or deadline == _INFINITE:
        return deadline
    lo, hi = deadline - slack, deadline + slack
    if mode == zx.ZX_TIMER_SLACK_EARLY:
        hi = deadline
    elif mode == zx.ZX_TIMER_SLACK_LATE:
        lo = deadline
    lo = max(lo, kernel.now)
    hi = min(max(hi, lo), _INFINITE)  # saturating, as Zircon's deadlines do
    return kernel.random("timer_slack").randint(lo, hi)


def _with_policy_slack(kernel: Kernel, deadline: int) -> int:
    """A blocking wait's deadline under the calling process's job timer-slack policy
    (Zircon: `Deadline(deadline, up->GetTimerSlackPolicy())` in every blocking syscall)."""
    if deadline == _INFINITE:
        return deadline
    t = kernel.sched.current
    if t is None:  # a call made from plain Python: no process policy applies
        return deadline
    amount, mode = t.process.timer_slack()
    return slack_fire_time(kernel, deadline, amount, mode) if amount else deadline


def deadline_after(kernel: Kernel, nanoseconds: int) -> int:
    """`kernel.now + nanoseconds`, saturating at ZX_TIME_INFINITE (zx_deadline_after)."""
    if nanoseconds > 0:
        return min(kernel.now + nanoseconds, _INFINITE)
    return kernel.now + nanoseconds


def sleep_until(
    kernel: Kernel,
    deadline: int,
    *,
    reason: int = zx.ZX_THREAD_STATE_BLOCKED_SLEEPING,
    description: Description = "",
) -> None:
    """Block the calling thread until virtual time reaches `deadline` (zx_nanosleep)."""
    if deadline <= kernel.now:
        return
    kernel.sched.block(Wait(description or (lambda: f"sleep(until {deadline})"), reason),
                       _with_policy_slack(kernel, deadline))


# --------------------------------------------------------------------------- signals
class _SignalWait(Wait, SignalObserver):
    """A wait for any of `mask` on one object; it is its own signal observer."""

    def __init__(self, obj: KernelObject, handle: Handle | None, mask: int, reason: int,
                 description: Description) -> None:
        # Wait.__init__ inlined: this runs on every blocking zx_object_wait_one.
        self._description = description
        self.reason = reason
        self.done = False
        self.status = _OK
        self.thread = None
        self.handle = handle
        self.obj = obj
        self.mask = mask
        self.observed = 0
        self.attached = True

    def describe(self) -> str:
        if self._description:
            return super().describe()
        return f"wait_one(koid {self.obj.koid}, {self.mask:#x})"

    def on_signals(self, obj: KernelObject, signals: int) -> bool:
        if self.done:
            self.attached = False
            return True
        if signals & self.mask:
            self.observed = signals
            self.attached = False  # returning True detaches it
            obj.kernel.sched.finish(self, _OK)
            return True
        return False

    def on_cancel(self, obj: KernelObject) -> None:
        self.attached = False
        if not self.done:
            self.observed = obj.signals | _HANDLE_CLOSED
            obj.kernel.sched.finish(self, _CANCELED)

    def cancel(self) -> None:
        if self.attached:
            self.attached = False
            self.obj.remove_observer(self)

    def is_live(self) -> bool:
        return self.in_progress(self.obj.kernel.sched)


def wait_signals(
    handle: Handle,
    signals: int,
    deadline: int,
    *,
    reason: int = zx.ZX_THREAD_STATE_BLOCKED_WAIT_ONE,
    description: Description = "",
) -> int:
    """Block until any of `signals` is asserted on `handle`'s object; return the signals
    observed then (at once if one is asserted already).

    Raises ZxError(ZX_ERR_TIMED_OUT, observed=current signals) at `deadline`, and
    ZxError(ZX_ERR_CANCELED, observed=... | ZX_SIGNAL_HANDLE_CLOSED) if `handle` is closed
    meanwhile. Checking the handle's rights (ZX_RIGHT_WAIT) is the caller's business.
    """
    obj = handle.obj
    current = obj.signals
    if current & signals:
        return current  # type: ignore[no-any-return]
    kernel = obj.kernel
    if deadline <= kernel.now:
        raise ZxError(_TIMED_OUT, observed=current)
    w = _SignalWait(obj, handle, signals, reason, description)
    obj.add_observer(w)
    status = kernel.sched.block(w, _with_policy_slack(kernel, deadline))
    if status == _OK:
        return w.observed
    raise ZxError(status, observed=obj.signals if status == _TIMED_OUT else w.observed)


class _ManyItem(SignalObserver):
    __slots__ = ("index", "mask", "obj", "wait")

    def __init__(self, wait: _ManyWait, index: int, obj: KernelObject, handle: Handle, mask: int) -> None:
        super().__init__(handle)
        self.wait = wait
        self.index = index
        self.obj = obj
        self.mask = mask

    def on_signals(self, obj: KernelObject, signals: int) -> bool:
        w = self.wait
        if w.done:
            return True
        if signals & self.mask:
            w.observed = [i.obj.signals for i in w.items]
            w.observed[self.index] = signals
            obj.kernel.sched.finish(w, _OK)
            return True
        return False

    def is_live(self) -> bool:
        return self.wait.in_progress(self.obj.kernel.sched)

    def on_cancel(self, obj: KernelObject) -> None:
        w = self.wait
        if not w.done:
            w.observed = [i.obj.signals for i in w.items]
            w.observed[self.index] = obj.signals | _HANDLE_CLOSED
            obj.kernel.sched.finish(w, _CANCELED)


class _ManyWait(Wait):
    def __init__(self, entries: Sequence[tuple[Handle, int]], reason: int, description: Description) -> None:
        super().__init__(description, reason)
        self.items = [_ManyItem(self, i, h.obj, h, m) for i, (h, m) in enumerate(entries)]
        self.observed: list[int] = []

    def describe(self) -> str:
        if self._description:
            return super().describe()
        return f"wait_many({len(self.items)} items)"

    def cancel(self) -> None:
        for item in self.items:
            item.obj.remove_observer(item)


def wait_signals_many(
    kernel: Kernel,
    entries: Sequence[tuple[Handle, int]],
    deadline: int,
    *,
    reason: int = zx.ZX_THREAD_STATE_BLOCKED_WAIT_MANY,
    description: Description = "",
) -> list[int]:
    """`wait_signals` over several (handle, signals) pairs: block until any pair's signals
    are asserted; return each object's signals (zx_object_wait_many's `pending`). With
    no entries it sleeps until `deadline` and times out.

    Raises ZxError(ZX_ERR_TIMED_OUT, pending=...) at `deadline` and
    ZxError(ZX_ERR_CANCELED, pending=...) if one of the handles is closed meanwhile.
    """
    pending = [h.obj.signals for h, _ in entries]
    if any(s & m for s, (_, m) in zip(pending, entries)):
        return pending
    if deadline <= kernel.now:
        raise ZxError(_TIMED_OUT, pending=pending)
    w = _ManyWait(entries, reason, description)
    for item in w.items:
        item.obj.add_observer(item)
    status = kernel.sched.block(w, _with_policy_slack(kernel, deadline))
    if status == _OK:
        return w.observed
    if status == _TIMED_OUT:
        raise ZxError(status, pending=[h.obj.signals for h, _ in entries])
    raise ZxError(status, pending=w.observed or [h.obj.signals for h, _ in entries])


# --------------------------------------------------------------------------- wait queues
class _QueuedWait(Wait, SignalObserver):
    """A thread in a `WaitQueue`; it observes its handle only to learn of its closing."""

    def __init__(self, queue: WaitQueue, handle: Handle | None, reason: int,
                 description: Description) -> None:
        # Wait.__init__ inlined: this runs on every blocking WaitQueue.wait (futex waits).
        self._description = description
        self.reason = reason
        self.done = False
        self.status = _OK
        self.thread = None
        self.handle = handle
        self.queue = queue
        self.value: Any = None
        self.queued = True

    def describe(self) -> str:
        if self._description:
            return super().describe()
        owner = self.queue.owner
        return f"wait queue of {owner!r}" if owner is not None else "wait queue"

    def on_signals(self, obj: KernelObject, signals: int) -> bool:
        return self.done

    def is_live(self) -> bool:
        return self.in_progress(self.queue.kernel.sched)

    def on_cancel(self, obj: KernelObject) -> None:
        self.handle = None  # the object dropped this observer already
        if not self.done:
            obj.kernel.sched.finish(self, _CANCELED)

    def cancel(self) -> None:
        if self.queued:
            self.queued = False
            queue = self.queue
            queue._remove(self)
            if not queue._waiters and queue.on_empty is not None:
                queue.on_empty(queue)
        h = self.handle
        if h is not None:
            self.handle = None
            h.obj.remove_observer(self)


class WaitQueue:
    """Threads blocked on one object, woken first-in first-out (Zircon's WaitQueue).

    Give each object that blocks callers one queue (`self.waiters = WaitQueue(kernel)`).
    A blocking syscall calls `wait`; whatever makes the wait satisfiable calls `wake_one`
    (handing the woken thread a value), `wake(count)` or `wake_all`. `len(queue)` counts
    the waiters, `threads()` lists them; `requeue(other, count)` moves waiters to another
    queue (zx_futex_requeue). `on_empty(queue)`, if given, is called when the last waiter
    leaves without being woken (timed out, canceled or killed), so an object that exists
    only while someone waits (a futex) can forget itself.
    """

    __slots__ = ("_waiters", "kernel", "on_empty", "owner")

    def __init__(self, kernel: Kernel, owner: Any = None, *,
                 on_empty: Callable[[WaitQueue], None] | None = None) -> None:
        self.kernel = kernel
        self.owner = owner
        self.on_empty = on_empty
        self._waiters: deque[_QueuedWait] = deque()

    def __len__(self) -> int:
        return len(self._waiters)

    def __bool__(self) -> bool:
        return bool(self._waiters)

    def wait(
        self,
        deadline: int,
        *,
        handle: Handle | None = None,
        reason: int = zx.ZX_THREAD_STATE_BLOCKED_SLEEPING,
        description: Description = "",
    ) -> Any:
        """Block the calling thread until woken; return the value `wake_one` handed over.

        Raises ZxError(ZX_ERR_TIMED_OUT) at `deadline` (at once if it has passed),
        ZxError(ZX_ERR_CANCELED) if `handle` (the handle the syscall was called with) is
        closed meanwhile, and ZxError(status) for a wake with another status than ZX_OK.
        """
        kernel = self.kernel
        if deadline <= kernel.now:
            raise ZxError(_TIMED_OUT)
        w = _QueuedWait(self, handle, reason, description)
        self._waiters.append(w)
        if handle is not None:
            handle.obj.add_observer(w)
        status = kernel.sched.block(w, _with_policy_slack(kernel, deadline))
        if status != _OK:
            raise ZxError(status)
        return w.value

    def wake_one(self, value: Any = None, *, status: int = _OK) -> bool:
        """Wake the longest waiter (its `wait` returns `value`); False if none waits."""
        waiters = self._waiters
        while waiters:
            w = waiters.popleft()
            w.queued = False
            if not w.done:
                w.value = value
                self.kernel.sched.finish(w, status)
                return True
        return False

    def wake(self, count: int, value: Any = None, *, status: int = _OK) -> list[Thread | None]:
        """Wake up to `count` waiters, longest first; the threads woken, in order (None
        for a direct caller from Python)."""
        woken: list[Thread | None] = []
        waiters = self._waiters
        finish = self.kernel.sched.finish
        while waiters and len(woken) < count:
            w = waiters.popleft()
            w.queued = False
            if not w.done:
                w.value = value
                woken.append(w.thread)
                finish(w, status)
        return woken

    def threads(self) -> list[Thread | None]:
        """The threads waiting, longest first (None for a direct caller from Python)."""
        return [w.thread for w in self._waiters if not w.done]

    def requeue(self, other: WaitQueue, count: int) -> int:
        """Move up to `count` waiters (longest first) to the back of `other`, where they
        keep waiting (their deadlines and descriptions unchanged); how many moved."""
        moved = 0
        waiters = self._waiters
        while waiters and moved < count:
            w = waiters.popleft()
            if w.done:
                w.queued = False
                continue
            w.queue = other
            other._waiters.append(w)
            moved += 1
        return moved

    def wake_all(self, value: Any = None, *, status: int = _OK) -> int:
        """Wake every waiter (their `wait` returns `value`, or raises for an error
        `status`); returns how many were woken."""
        n = 0
        while self.wake_one(value, status=status):
            n += 1
        return n

    def _remove(self, w: _QueuedWait) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(w)
