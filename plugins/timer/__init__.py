"""The timer plugin: Zircon timers (ZX_OBJ_TYPE_TIMER) on virtual time.

- `zx_timer_create(options, clock_id) -> handle`: `clock_id` ZX_CLOCK_MONOTONIC (0) or
  ZX_CLOCK_BOOT (1), else ZX_ERR_INVALID_ARGS; `options` the slack mode
  ZX_TIMER_SLACK_CENTER (0), _EARLY (1) or _LATE (2), else ZX_ERR_INVALID_ARGS. Rights
  BASIC | WRITE | SIGNAL (0xD00B, no READ).
- `zx_timer_set(h, deadline, slack)`: negative slack -> ZX_ERR_OUT_OF_RANGE before the
  handle is looked up; WRITE right. Cancels any armed deadline and clears
  ZX_TIMER_SIGNALED; a deadline of 0 or not after now asserts SIGNALED at once (info
  deadline and slack stay 0); otherwise the timer is armed, one-shot.
- `zx_timer_cancel(h)`: WRITE right; disarms and clears SIGNALED (OK when not armed).
- Closing the last handle cancels the timer. ZX_INFO_TIMER (INSPECT, 24 bytes): options,
  clock, armed deadline and slack.

Virtual time: an armed timer is a scheduler deadline, so when every thread is blocked
time jumps to it, and it fires as soon as time passes it. The firing time is drawn, from
the kernel seed, in Zircon's slack window: CENTER [d-s, d+s], EARLY [d-s, d], LATE
[d, d+s] (exactly d when the slack is 0). The slack is the larger of the caller's and its
job's ZX_JOB_POL_TIMER_SLACK minimum, as in Zircon (ZX_INFO_TIMER shows that one).

Limits: deadlines and slack are int64 nanoseconds; other values are ZX_ERR_INVALID_ARGS.
"""

from __future__ import annotations

from collections.abc import Callable

from microsim import hookimpl, zx
from microsim.blocking import slack_fire_time
from microsim.core.handle import Handle
from microsim.core.object import KernelObject
from microsim.core.sched import Deadline
from microsim.core.syscall import arg_i64, arg_u32
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "timers: one-shot deadlines on virtual time that assert ZX_TIMER_SIGNALED"

_SIGNALED = zx.ZX_TIMER_SIGNALED


class Timer(KernelObject):
    """A Zircon timer."""

    obj_type = zx.ZX_OBJ_TYPE_TIMER
    type_name = "timer"
    default_rights = zx.ZX_DEFAULT_TIMER_RIGHTS
    __slots__ = ("armed", "clock_id", "deadline", "options", "slack")

    def __init__(self, kernel: Kernel, options: int, clock_id: int) -> None:
        super().__init__(kernel)
        self.options = options
        self.clock_id = clock_id
        self.deadline = 0
        self.slack = 0
        self.armed: Deadline | None = None

    def cancel(self) -> None:
        """Disarm (the stored deadline and slack go back to 0)."""
        if self.armed is not None:
            self.kernel.sched.cancel_deadline(self.armed)
            self.armed = None
        self.deadline = 0
        self.slack = 0

    def fire_time(self, deadline: int, slack: int) -> int:
        """When an armed timer fires: within the slack window of its mode (its create
        options), drawn from the seed."""
        return slack_fire_time(self.kernel, deadline, slack, self.options)

    def fire(self) -> None:
        """The armed deadline was reached: assert SIGNALED (one-shot)."""
        self.armed = None
        self.deadline = 0
        self.slack = 0
        self.update_signals(0, _SIGNALED)

    def on_zero_handles(self) -> None:
        self.cancel()

    def on_destroy(self) -> None:
        self.cancel()


def sys_timer_create(p: Process, options: int, clock_id: int) -> int:
    """zx_timer_create: a disarmed timer. `clock_id` not ZX_CLOCK_MONOTONIC/BOOT ->
    INVALID_ARGS; `options` (slack mode) above ZX_TIMER_SLACK_LATE (2) -> INVALID_ARGS.

    Limits: deadlines and slack are int64 nanoseconds of virtual time; the firing time is
    drawn from the seed inside the slack window (CENTER [d-s, d+s], EARLY [d-s, d],
    LATE [d, d+s]).
    """
    clock_id = arg_u32(clock_id)
    if clock_id not in (zx.ZX_CLOCK_MONOTONIC, zx.ZX_CLOCK_BOOT):
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "unknown clock")
    p.enforce_policy(zx.ZX_POL_NEW_TIMER)  # after the clock, before the slack mode
    options = arg_u32(options)
    if options > zx.ZX_TIMER_SLACK_LATE:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "unknown slack mode")
    k = p.kernel
    if k.mem.armed:
        k.mem.alloc("object")
        k.mem.alloc("handle")
    t = Timer(k, options, clock_id)
    k.publish(t, p.koid)
    return k.new_handle(p, t, Timer.default_rights, reserved=True)


def sys_timer_set(p: Process, handle: int, deadline: int, slack: int) -> None:
    """zx_timer_set: arm the timer for `deadline` with `slack` (ns; negative ->
    OUT_OF_RANGE before the lookup). A deadline not in the future signals at once."""
    slack = arg_i64(slack)
    if slack < 0:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "negative slack")
    t: Timer = p.obj(handle, Timer, zx.ZX_RIGHT_WRITE)
    deadline = arg_i64(deadline)
    k = p.kernel
    t.cancel()
    if t.signals & _SIGNALED:
        t.update_signals(_SIGNALED, 0)
    if deadline <= k.now:
        t.update_signals(0, _SIGNALED)
        return None
    # Zircon: the effective slack is the larger of the caller's and the job's timer-slack
    # policy (slack can only grow); ZX_INFO_TIMER shows the effective one.
    slack = max(slack, p.timer_slack()[0])
    t.deadline = deadline
    t.slack = slack
    t.armed = k.sched.call_at(t.fire_time(deadline, slack), t.fire, f"timer(koid {t.koid})")
    return None


def sys_timer_cancel(p: Process, handle: int) -> None:
    """zx_timer_cancel: disarm and clear SIGNALED (WRITE right; OK if not armed)."""
    t: Timer = p.obj(handle, Timer, zx.ZX_RIGHT_WRITE)
    t.cancel()
    if t.signals & _SIGNALED:
        t.update_signals(_SIGNALED, 0)
    return None


def info_timer(p: Process, h: Handle, buffer_size: int | None) -> zx.zx_info_timer_t:
    """ZX_INFO_TIMER: options, clock, armed deadline and slack (0 when disarmed)."""
    if buffer_size is not None and buffer_size < zx.zx_info_timer_t.SIZE:
        raise ZxError(zx.ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)
    t: Timer = h.obj
    return zx.zx_info_timer_t(t.options, t.clock_id, t.deadline, t.slack)


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Timer)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    register("zx_timer_create", sys_timer_create)
    register("zx_timer_set", sys_timer_set)
    register("zx_timer_cancel", sys_timer_cancel)


@hookimpl
def register_info_topics(register: Callable[..., None]) -> None:
    register(zx.ZX_INFO_TIMER, info_timer, name="ZX_INFO_TIMER", cls=Timer, rights=zx.ZX_RIGHT_INSPECT)


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("timer"):
        assert isinstance(obj, Timer)
        if obj.armed is not None and (obj.armed.done or obj.deadline == 0):
            report(f"{obj!r}: armed state does not match its deadline")
