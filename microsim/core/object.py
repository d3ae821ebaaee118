"""The kernel-object base (Zircon's Dispatcher, zCore's KernelObject).

A plugin defines an object type by subclassing `KernelObject` (or `PeeredObject`) and
setting the class attributes `obj_type`, `type_name` and `default_rights`. Everything an
object's state change must pass through lives here or in `Kernel`, so the trace, the
observer hooks and the waiters see every change:

- `publish()` makes a new object live (koid registered, `object_created` traced);
- `update_signals()` / `strobe()` change signals and wake observers;
- `retain()` / `release()` count kernel-internal references (mappings, parents...);
  handles are counted by the handle operations;
- `on_zero_handles()` and `on_destroy()` are the per-type callbacks, like Zircon's.

An object is destroyed when it has no handle and no kernel reference left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from microsim import zx
from microsim.errors import ZxError

if TYPE_CHECKING:
    from microsim.core.handle import Handle
    from microsim.kernel import Kernel


class SignalObserver:
    """Something that wants to know when an object's signals change.

    `on_signals` is called with the new signal state (or, for a strobe, the state with the
    strobed bits added); returning True removes the observer. `handle` ties the observer
    to a handle: closing or transferring that handle calls `on_cancel` and removes it.
    """

    __slots__ = ("handle",)

    def __init__(self, handle: Handle | None = None) -> None:
        self.handle = handle

    def on_signals(self, obj: KernelObject, signals: int) -> bool:  # pragma: no cover
        """React to `signals`; return True to stop observing."""
        raise NotImplementedError

    def on_cancel(self, obj: KernelObject) -> None:
        """The handle this observer was registered through went away."""

    def is_live(self) -> bool:
        """Whether the wait or registration this observer serves still exists.

        The invariant checker reports an observer left on an object after its wait ended
        (a leak). Override in observers that belong to a wait or a registration.
        """
        return True


class KernelObject:
    """Base class of every kernel object."""

    obj_type: ClassVar[int] = zx.ZX_OBJ_TYPE_NONE
    type_name: ClassVar[str] = "none"
    default_rights: ClassVar[int] = zx.ZX_RIGHT_NONE
    # Bits that zx_object_signal may set or clear on this type.
    signal_mask: ClassVar[int] = zx.ZX_USER_SIGNAL_ALL
    # Whether zx_object_wait_* may wait on it (the handle also needs ZX_RIGHT_WAIT).
    waitable: ClassVar[bool] = True

    __slots__ = (
        "alive",
        "handle_count",
        "kernel",
        "kernel_refs",
        "koid",
        "name",
        "observers",
        "owner_koid",
        "published",
        "signals",
    )

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.koid = kernel.new_koid()
        self.signals = 0
        self.handle_count = 0
        self.kernel_refs = 0
        self.name = b""
        self.observers: list[SignalObserver] | None = None
        self.alive = True
        self.published = False
        self.owner_koid = 0

    # ------------------------------------------------------------------ identity
    @property
    def related_koid(self) -> int:
        """The koid ZX_INFO_HANDLE_BASIC reports as related (0 unless overridden)."""
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} koid={self.koid}>"

    def publish(self) -> None:
        """Make the object live: register its koid and trace its creation."""
        self.kernel.publish(self)

    # ------------------------------------------------------------------ lifetime
    def retain(self) -> None:
        """Take a kernel-internal reference (a mapping, a child, another object)."""
        self.kernel_refs += 1

    def release(self) -> None:
        """Drop a kernel-internal reference; destroys the object if it was the last."""
        self.kernel_refs -= 1
        if self.kernel_refs == 0 and self.handle_count == 0:
            self.kernel.destroy(self)

    def on_zero_handles(self) -> None:
        """The last handle went away (Zircon's on_zero_handles). Override to react."""

    def on_destroy(self) -> None:
        """The object is being destroyed: release what it holds. Override to react."""

    # ------------------------------------------------------------------ signals
    def update_signals(self, clear_mask: int, set_mask: int) -> None:
        """Clear then set signal bits; trace the change and wake observers."""
        old = self.signals
        new = (old & ~clear_mask) | set_mask
        if new == old:
            return
        self.signals = new
        kernel = self.kernel
        if kernel.trace is not None and self.published:
            kernel.emit("signal", self.koid, old, new)
        if kernel.obs_signals is not None:
            kernel.obs_signals(kernel=kernel, obj=self, old=old, new=new)
        if self.observers:
            self._notify(new)

    def strobe(self, signals: int) -> None:
        """Pulse signals to observers without latching them (Zircon's strobe)."""
        kernel = self.kernel
        if kernel.trace is not None:
            kernel.emit("signal_strobe", self.koid, signals)
        if self.observers:
            self._notify(self.signals | signals)

    def _notify(self, signals: int) -> None:
        observers = self.observers
        assert observers is not None
        # Zircon pushes each observer to the front of its list: the newest is told first.
        keep = [o for o in observers[::-1] if not o.on_signals(self, signals)]
        keep.reverse()
        # An observer may have added or removed others while being notified.
        current = self.observers
        if current is observers:
            self.observers = keep or None
        else:
            merged = [o for o in (current or []) if o in keep or o not in observers]
            self.observers = merged or None

    def add_observer(self, observer: SignalObserver) -> None:
        """Register a signal observer (a waiter, a port registration...)."""
        if self.observers is None:
            self.observers = [observer]
        else:
            self.observers.append(observer)

    def remove_observer(self, observer: SignalObserver) -> None:
        """Unregister a signal observer (no error if already gone)."""
        if self.observers and observer in self.observers:
            self.observers.remove(observer)
            if not self.observers:
                self.observers = None

    def cancel_observers(self, handle: Handle) -> None:
        """Cancel every observer registered through `handle` (closed or transferred)."""
        if not self.observers:
            return
        gone = [o for o in self.observers if o.handle is handle]
        if not gone:
            return
        for o in gone:
            self.observers.remove(o)
        if not self.observers:
            self.observers = None
        for o in gone:
            o.on_cancel(self)

    # ------------------------------------------------------------------ per-type ops
    def user_signal_peer(self, clear_mask: int, set_mask: int) -> None:
        """zx_object_signal_peer on this object; objects without a peer refuse."""
        raise ZxError(zx.ZX_ERR_NOT_SUPPORTED)

    def set_name(self, name: bytes) -> None:
        """ZX_PROP_NAME set (already truncated to 31 bytes)."""
        self.name = name

    def get_name(self) -> bytes:
        """ZX_PROP_NAME get."""
        return self.name

    def describe(self) -> dict[str, Any]:
        """Extra state for dumps and invariant reports (override to add fields)."""
        return {}


class PeeredObject(KernelObject):
    """One end of a peered pair (channel, eventpair, IOB...).

    `peer` is the other end while it lives; `peer_koid` stays fixed for life, as Zircon's
    related koid does. When the last handle goes, the peer is told through
    `on_peer_zero_handles()`, whose default raises ZX_OBJECT_PEER_CLOSED on it.
    """

    __slots__ = ("peer", "peer_koid")

    peer_closed_signal: ClassVar[int] = zx.ZX_OBJECT_PEER_CLOSED

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.peer: PeeredObject | None = None
        self.peer_koid = 0

    @staticmethod
    def link(a: PeeredObject, b: PeeredObject) -> None:
        """Make `a` and `b` each other's peer."""
        a.peer, b.peer = b, a
        a.peer_koid, b.peer_koid = b.koid, a.koid

    @property
    def related_koid(self) -> int:
        return self.peer_koid

    def on_zero_handles(self) -> None:
        peer = self.peer
        if peer is not None:
            peer.peer = None
            self.peer = None
            peer.on_peer_zero_handles()

    def on_peer_zero_handles(self) -> None:
        """The peer lost its last handle. Default: assert the peer-closed signal."""
        self.update_signals(0, self.peer_closed_signal)

    def user_signal_peer(self, clear_mask: int, set_mask: int) -> None:
        # Zircon checks the mask before the peer (IOB core-test SignalsAndSignalPeer).
        allowed = type(self).signal_mask
        if (clear_mask | set_mask) & ~allowed:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "only user signals may be changed")
        if self.peer is None:
            raise ZxError(zx.ZX_ERR_PEER_CLOSED)
        self.peer.update_signals(clear_mask, set_mask)
