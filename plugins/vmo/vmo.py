"""The VMO object: sparse pages, children (reference, slice, snapshot), child observers.

Pages live in a `PageStore` (a `SortedDict` page index -> bytearray), so only pages that
were written or committed cost memory, and range operations (commit, decommit, zero,
truncate) visit only the pages present. Reference and slice children share their parent's
store (a slice through a window at an offset).

Snapshot children follow Zircon's copy-on-write tree of hidden nodes (VmCowPages): creating
a snapshot of a store moves its pages into a new hidden store whose two children are the
original (left) and the snapshot (right), each seeing a window of it. A write to a page
held by an ancestor forks it down the path: at each hidden level the page is copied if the
other side can still see it (and that side's split bit is set) or moved if not; a page both
sides have split is freed. When one child of a hidden store goes away the store merges into
the other. A page held by a hidden store is attributed (committed_bytes) to the left-most
VMO that sees it, as Zircon's attribution does (vmo-clone2 core-tests).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Protocol

from sortedcontainers import SortedDict

from microsim import zx
from microsim.errors import ZxError
from microsim.objects.vmar import MappableObject, Mapping

if TYPE_CHECKING:
    from microsim.kernel import Kernel

PAGE = zx.ZX_PAGE_SIZE
_PAGE_MASK = PAGE - 1
_PAGE_SHIFT = PAGE.bit_length() - 1
assert PAGE == 1 << _PAGE_SHIFT
_unpack_i32 = struct.Struct("<i").unpack_from
#: Bytes of one page-list node (16 page slots plus links), for zx_info_vmo_t.metadata_bytes.
_PAGE_LIST_NODE_BYTES = 160
# VmObject::RoundSize's limit: ROUNDDOWN(UINT64_MAX, 2 * kPageFanOut * PAGE_SIZE).
VMO_MAX_SIZE = ((1 << 64) - 1) // (2 * 16 * PAGE) * (2 * 16 * PAGE)
_ZERO_PAGE = bytes(PAGE)

CREATE_OPTIONS = zx.ZX_VMO_RESIZABLE | zx.ZX_VMO_DISCARDABLE | zx.ZX_VMO_UNBOUNDED
_SNAPSHOTS = (
    zx.ZX_VMO_CHILD_SNAPSHOT
    | zx.ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE
    | zx.ZX_VMO_CHILD_SNAPSHOT_MODIFIED
)


def round_size(size: int) -> int:
    """Round up to a page; OUT_OF_RANGE on overflow or above the maximum VMO size."""
    rounded = (size + PAGE - 1) & ~(PAGE - 1)
    if rounded > VMO_MAX_SIZE or size < 0:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"size {size} is larger than a VMO can be")
    return rounded


class ChildObserver(Protocol):
    """Zircon's VmObjectChildObserver: told when a VMO's direct children come and go."""

    def on_zero_children(self, vmo: Vmo) -> None:
        """The VMO's last direct child went away."""


_NO_LIMIT = (1 << 64) // PAGE


class PageStore:
    """Sparse pages shared by a VMO and its reference/slice children; a node of the
    copy-on-write tree (see the module docstring) when `parent` is set or it is hidden."""

    __slots__ = (
        "children", "kernel", "markers", "pages", "parent", "parent_limit", "parent_offset", "split", "users",
    )

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.pages: SortedDict = SortedDict()
        self.users = 0
        # Copy-on-write links: page i of this store shows page i + parent_offset of
        # `parent` when i < parent_limit and this store has no page i of its own.
        self.parent: PageStore | None = None
        self.parent_offset = 0
        self.parent_limit = 0
        # A hidden store's [left, right] children and, per page index, the sides that
        # have split it off (bit 1: left, bit 2: right). Empty for a visible store.
        self.children: list[PageStore] = []
        self.split: dict[int, int] = {}
        # Zero markers: indexes that read as zeros here without a page, hiding the parent's.
        self.markers: set[int] = set()

    # ------------------------------------------------------------------ COW tree
    def _sees(self, child: PageStore, j: int) -> bool:
        """Whether `child` (one of this hidden store's children) can see page j of it."""
        side = 1 if self.children[0] is child else 2
        i = j - child.parent_offset
        if not 0 <= i < child.parent_limit or self.split.get(j, 0) & side:
            return False
        if i in child.markers:
            return False
        if child.children:  # a hidden child sees it if one of its children does
            return i not in child.pages and any(child._sees(c, i) for c in child.children)
        return True

    def chain_offset(self) -> int:
        """Pages between this store's index 0 and the root of its copy-on-write tree."""
        total = 0
        cur: PageStore | None = self
        while cur is not None and cur.parent is not None:
            total += cur.parent_offset
            cur = cur.parent
        return total

    def snapshot(self, first: int, count: int) -> PageStore:
        """A copy-on-write child store seeing pages [first, first+count) of this one.

        This store's pages move into a new hidden store whose children are this store
        (left) and the new one (right)."""
        hidden = PageStore(self.kernel)
        hidden.pages, self.pages = self.pages, SortedDict()
        hidden.markers, self.markers = self.markers, set()
        hidden.parent, hidden.parent_offset, hidden.parent_limit = self.parent, self.parent_offset, self.parent_limit
        if self.parent is not None:
            sibling = self.parent.children
            sibling[sibling.index(self)] = hidden
        self.parent, self.parent_offset, self.parent_limit = hidden, 0, _NO_LIMIT
        child = PageStore(self.kernel)
        child.parent, child.parent_offset, child.parent_limit = hidden, first, count
        hidden.children = [self, child]
        return child

    def _find(self, i: int) -> tuple[list[tuple[PageStore, int]], bytearray | None]:
        """The path [(store, index)] from this store up to the store holding page i
        (last element), and that page; (path, None) if no store in reach holds it (a
        zero marker on the way hides what is above it)."""
        path = [(self, i)]
        cur = self
        while True:
            page = cur.pages.get(i)
            if page is not None:
                return path, page
            parent = cur.parent
            if parent is None or i >= cur.parent_limit or i in cur.markers:
                return path, None
            i += cur.parent_offset
            cur = parent
            path.append((cur, i))

    @staticmethod
    def _migrate_cost(path: list[tuple[PageStore, int]], stop: int) -> int:
        """Pages copied when the page at the top of `path` moves down to level `stop`."""
        cost = 0
        for level in range(len(path) - 1, stop, -1):
            node, j = path[level]
            below = path[level - 1][0]
            other = node.children[1] if node.children[0] is below else node.children[0]
            cost += node._sees(other, j)
        return cost

    @staticmethod
    def _migrate(path: list[tuple[PageStore, int]], stop: int) -> None:
        """Move the page at the top of `path` down to level `stop`: at each hidden level it
        is copied if the other side still sees it (that side's split bit is set) or moved."""
        for level in range(len(path) - 1, stop, -1):
            node, j = path[level]
            below, bi = path[level - 1]
            side = 1 if node.children[0] is below else 2
            other = node.children[1] if side == 1 else node.children[0]
            if node._sees(other, j):
                below.pages[bi] = bytearray(node.pages[j])
                node.split[j] = node.split.get(j, 0) | side
            else:
                below.pages[bi] = node.pages.pop(j)
                node.split.pop(j, None)

    def _fork_cost(self, i: int) -> int:
        """Pages a fork of page i into this store would newly charge."""
        if i in self.pages:
            return 0
        path, page = self._find(i)
        return 1 if page is None else self._migrate_cost(path, 0)

    def _fork(self, i: int) -> None:
        """Give this store its own page i (copied or moved down from an ancestor, or a
        new zero page); the caller charged `_fork_cost(i)` pages."""
        path, page = self._find(i)
        self.markers.discard(i)
        if page is None:
            self.pages[i] = bytearray(PAGE)
        else:
            self._migrate(path, 0)

    def _mark_cost(self, i: int) -> int:
        path, page = self._find(i)
        return 0 if page is None or len(path) < 2 else self._migrate_cost(path, 1)

    def _mark(self, i: int) -> None:
        """Make page i read as zeros without a page of its own (Zircon's zero marker): the
        inherited page is forked down to the parent, split off on this side, and freed
        if the other side does not see it either. The caller charged `_mark_cost(i)`."""
        own = self.pages.pop(i, None)
        if own is not None:
            self.kernel.mem.uncharge_pages(1)
        path, page = self._find(i)
        if page is None or len(path) < 2:
            return  # nothing inherited to hide
        self._migrate(path, 1)
        node, j = path[1]
        side = 1 if node.children[0] is self else 2
        other = node.children[1] if side == 1 else node.children[0]
        node.split[j] = node.split.get(j, 0) | side
        self.markers.add(i)
        if not node._sees(other, j):
            del node.pages[j]
            node.split.pop(j, None)
            self.kernel.mem.uncharge_pages(1)

    def _visible(self, first: int, last: int) -> dict[int, bytearray]:
        """The pages this store shows in [first, last] (own or inherited), by index."""
        levels: list[tuple[PageStore, int, int, int]] = []  # (store, lo, hi, shift)
        cur: PageStore | None = self
        lo, hi, shift = first, last, 0
        while cur is not None and lo <= hi:
            levels.append((cur, lo, hi, shift))
            if cur.parent is None:
                break
            hi = min(hi, cur.parent_limit - 1)
            lo, hi, shift = lo + cur.parent_offset, hi + cur.parent_offset, shift + cur.parent_offset
            cur = cur.parent
        out: dict[int, bytearray] = {}
        for store, a, b, sh in reversed(levels):
            for j in store.markers:
                if a <= j <= b:
                    out.pop(j - sh, None)
            for j in store.pages.irange(a, b):
                out[j - sh] = store.pages[j]
        return out

    def attributed(self, first: int, last: int) -> int:
        """Pages of [first, last] attributed to this store: its own, plus inherited ones
        for which it is the left-most store that sees them."""
        own = sum(1 for _ in self.pages.irange(first, last))
        if self.parent is None:
            return own
        count = own
        for i in self._visible(first, last):
            if i in self.pages:
                continue
            cur, idx, mine = self, i, True
            while idx not in cur.pages:
                node = cur.parent
                assert node is not None
                j = idx + cur.parent_offset
                if node.children[1] is cur and node._sees(node.children[0], j):
                    mine = False
                    break
                cur, idx = node, j
            count += mine
        return count

    def detach(self) -> None:
        """Leave the COW tree (this store's last user is gone, its pages dropped): the
        hidden parent merges into the remaining child."""
        hidden = self.parent
        if hidden is None:
            return
        self.parent = None
        (other,) = [c for c in hidden.children if c is not self]
        freed = 0
        for j in list(hidden.pages):
            i = j - other.parent_offset
            if hidden._sees(other, j) and i not in other.pages and i not in other.markers:
                other.pages[i] = hidden.pages.pop(j)
            else:
                del hidden.pages[j]
                freed += 1
        if freed:
            self.kernel.mem.uncharge_pages(freed)
        off = other.parent_offset
        other.parent_limit = min(other.parent_limit, max(0, hidden.parent_limit - off))
        other.parent_offset = off + hidden.parent_offset
        other.parent = hidden.parent
        if hidden.parent is not None:
            sibling = hidden.parent.children
            sibling[sibling.index(hidden)] = other
        hidden.children = []

    def missing(self, first: int, last: int) -> int:
        """How many pages in [first, last] are absent."""
        present = sum(1 for _ in self.pages.irange(first, last))
        return (last - first + 1) - present

    def ensure(self, first: int, last: int) -> None:
        """Create the absent pages in [first, last] (charging them first)."""
        if last < first:
            return
        if self.parent is not None:
            todo = [i for i in range(first, last + 1) if i not in self.pages]
            cost = sum(self._fork_cost(i) for i in todo)
            if cost:
                self.kernel.mem.charge_pages(cost)
            for i in todo:
                self._fork(i)
            return
        n = self.missing(first, last)
        if n:
            self.kernel.mem.charge_pages(n)
            pages = self.pages
            for i in range(first, last + 1):
                if i not in pages:
                    pages[i] = bytearray(PAGE)

    def drop(self, first: int, last: int) -> int:
        """Free the pages in [first, last]; returns how many were freed."""
        keys = list(self.pages.irange(first, last))
        for i in keys:
            del self.pages[i]
        if self.markers:
            self.markers = {i for i in self.markers if not first <= i <= last}
        if keys:
            self.kernel.mem.uncharge_pages(len(keys))
        return len(keys)

    def read(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset+length) of the store (absent pages read as zeros).

        One output buffer is allocated (zero-filled) and only the pages present in the
        range are copied into it, so a large read of sparse memory costs the pages held,
        not one Python step per page.
        """
        if length <= 0:
            return b""
        first, within = divmod(offset, PAGE)
        pages = self.pages
        if self.parent is not None:
            pages = self._visible(first, (offset + length - 1) // PAGE)
            end = offset + length
            out = bytearray(length)
            for i in sorted(pages):
                start = i * PAGE
                lo = offset if offset > start else start
                hi = end if end < start + PAGE else start + PAGE
                out[lo - offset : hi - offset] = pages[i][lo - start : hi - start]
            return bytes(out)
        if within + length <= PAGE:  # fast path: one page
            page = pages.get(first)
            return bytes(page[within : within + length]) if page is not None else bytes(length)
        end = offset + length
        out = bytearray(length)
        for i in pages.irange(first, (end - 1) // PAGE):
            start = i * PAGE
            lo = offset if offset > start else start
            hi = end if end < start + PAGE else start + PAGE
            out[lo - offset : hi - offset] = pages[i][lo - start : hi - start]
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        """Write `data` at `offset` (pages are created, charged first)."""
        if not data:
            return
        first, within = divmod(offset, PAGE)
        if within + len(data) <= PAGE:  # fast path: within one page already held
            page = self.pages.get(first)
            if page is not None:
                page[within : within + len(data)] = data
                return
        self.ensure(offset // PAGE, (offset + len(data) - 1) // PAGE)
        pos = 0
        pages = self.pages
        while pos < len(data):
            i, within = divmod(offset + pos, PAGE)
            n = min(PAGE - within, len(data) - pos)
            pages[i][within : within + n] = data[pos : pos + n]
            pos += n

    def zero(self, offset: int, length: int, *, keep: bool = False) -> None:
        """Zero a byte range: whole pages are freed (cleared in place with `keep`, as
        pinned pages must stay committed), partial ones cleared."""
        end = offset + length
        first_full = (offset + PAGE - 1) // PAGE
        last_full = end // PAGE - 1
        if self.parent is not None and length > 0:
            # Copy-on-write: whole pages become zero markers (no memory; what the parent
            # shows is hidden); partial pages are forked, then cleared.
            if first_full <= last_full:
                full = sorted(self._visible(first_full, last_full))  # own and inherited pages
                cost = sum(self._mark_cost(i) for i in full)
                if cost:
                    self.kernel.mem.charge_pages(cost)
                for i in full:
                    if keep and i in self.pages:
                        self.pages[i][:] = _ZERO_PAGE
                    else:
                        self._mark(i)
            partial = [i for i in {offset // PAGE, (end - 1) // PAGE} if not first_full <= i <= last_full]
            shown = self._visible(min(partial), max(partial)) if partial else {}
            todo = [i for i in partial if i in shown and i not in self.pages]
            if todo:
                self.ensure_pages(todo)
            for i in partial:
                page = self.pages.get(i)
                if page is not None:
                    lo, hi = max(offset, i * PAGE), min(end, (i + 1) * PAGE)
                    page[lo - i * PAGE : hi - i * PAGE] = bytes(hi - lo)
            return
        if first_full <= last_full:
            if keep:
                for i in self.pages.irange(first_full, last_full):
                    self.pages[i][:] = _ZERO_PAGE
            else:
                self.drop(first_full, last_full)
        pages = self.pages
        for lo, hi in ((offset, min(end, first_full * PAGE)), (max(offset, (last_full + 1) * PAGE), end)):
            if lo < hi:
                page = pages.get(lo // PAGE)
                if page is not None:
                    page[lo % PAGE : lo % PAGE + (hi - lo)] = bytes(hi - lo)

    def ensure_pages(self, indexes: list[int]) -> None:
        """Fork the given page indexes into this copy-on-write store (charged first)."""
        cost = sum(self._fork_cost(i) for i in indexes)
        if cost:
            self.kernel.mem.charge_pages(cost)
        for i in indexes:
            self._fork(i)

    def copy_range(self, offset: int, size: int) -> PageStore:
        """A new store holding a copy of the pages of [offset, offset+size), rebased to 0."""
        new = PageStore(self.kernel)
        base = offset // PAGE
        last = (offset + size - 1) // PAGE
        keys = list(self.pages.irange(base, last)) if size else []
        if keys:
            self.kernel.mem.charge_pages(len(keys))
        for i in keys:
            new.pages[i - base] = bytearray(self.pages[i])
        return new


# Parents whose kernel reference is being dropped. Destroying a child releases its parent,
# which may destroy it and release the grandparent ...: done iteratively, so a chain of a
# thousand slices (VmoSliceTestCase.DeepHierarchy) does not exhaust the Python stack.
_releasing: list[Vmo] | None = None


def _release_parent(parent: Vmo) -> None:
    global _releasing
    if _releasing is not None:
        _releasing.append(parent)
        return
    _releasing = [parent]
    try:
        while _releasing:
            _releasing.pop().release()
    finally:
        _releasing = None


class ContentSize:
    """The content (stream) size, shared between a VMO and its reference children."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


class Vmo(MappableObject):
    """A virtual memory object."""

    obj_type = zx.ZX_OBJ_TYPE_VMO
    type_name = "vmo"
    default_rights = zx.ZX_DEFAULT_VMO_RIGHTS

    __slots__ = (
        "_size",
        "base",
        "cache_policy",
        "child_observer",
        "children",
        "content",
        "discardable",
        "has_stream_size",
        "immutable",
        "kind",
        "lock_count",
        "mapping_listener",
        "num_mappings",
        "options",
        "parent",
        "pin_count",
        "resizable",
        "size_owner",
        "store",
        "user_koid",
    )

    def __init__(self, kernel: Kernel, store: PageStore, base: int, size: int, content: ContentSize) -> None:
        super().__init__(kernel)
        self.store = store
        store.users += 1
        self.base = base
        self._size = size
        self.content = content
        self.options = 0
        self.resizable = False
        self.discardable = False
        self.parent: Vmo | None = None
        self.children: list[Vmo] = []
        self.kind = "root"
        self.num_mappings = 0
        self.child_observer: Any = None
        self.pin_count = 0
        self.lock_count = 0
        self.immutable = False
        self.cache_policy = zx.ZX_CACHE_POLICY_CACHED
        # A reference child has its parent's size; everything else owns its size.
        self.size_owner: Vmo = self
        # The koid reported for this memory (Zircon's VMO "user id"): IOB references and
        # their mapping children report their region's koid.
        self.user_koid = 0
        # IOB region memory has no stream size (FAULT_BEYOND_STREAM_SIZE is refused).
        self.has_stream_size = True
        # Called as listener(vmo, mapping) after a mapping of this VMO went away.
        self.mapping_listener: Any = None
        # ZX_VMO_ZERO_CHILDREN is asserted from creation (no children yet).
        self.signals = zx.ZX_VMO_ZERO_CHILDREN

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, kernel: Kernel, size: int, options: int = 0, *, name: bytes = b"") -> Vmo:
        """A new VMO, validated like zx_vmo_create; UNPUBLISHED (the caller publishes)."""
        if type(options) is not int or options < 0 or options & ~CREATE_OPTIONS:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown VMO options {options!r}")
        if options & zx.ZX_VMO_RESIZABLE and options & zx.ZX_VMO_UNBOUNDED:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "RESIZABLE with UNBOUNDED")
        if type(size) is not int:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "size must be an int")
        if size < 0 or size > (1 << 64) - 1:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "size does not fit in 64 bits")
        rounded = VMO_MAX_SIZE if options & zx.ZX_VMO_UNBOUNDED else round_size(size)
        if kernel.mem.armed:
            kernel.mem.alloc("object")
        vmo = cls(kernel, PageStore(kernel), 0, rounded, ContentSize(size))
        vmo.options = options
        vmo.resizable = bool(options & zx.ZX_VMO_RESIZABLE)
        vmo.discardable = bool(options & zx.ZX_VMO_DISCARDABLE)
        vmo.name = bytes(name)[: zx.ZX_MAX_NAME_LEN - 1]
        return vmo

    def create_child(self, options: int, offset: int, size: int) -> Vmo:
        """A child VMO (zx_vmo_create_child's rules minus handle rights); UNPUBLISHED.

        Creating it clears ZX_VMO_ZERO_CHILDREN on this VMO at once.
        """
        rounded = round_size(size)
        if options & zx.ZX_VMO_CHILD_NO_WRITE and options & zx.ZX_VMO_CHILD_RESIZABLE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "NO_WRITE with RESIZABLE")
        no_write = bool(options & zx.ZX_VMO_CHILD_NO_WRITE)
        options &= ~zx.ZX_VMO_CHILD_NO_WRITE
        if self.discardable:
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "discardable VMOs cannot have children")
        resizable = bool(options & zx.ZX_VMO_CHILD_RESIZABLE)
        k = self.kernel
        if options & zx.ZX_VMO_CHILD_SLICE:
            if options & ~zx.ZX_VMO_CHILD_SLICE:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "SLICE takes no other option")
            # VmObjectPaged::CreateChildSlice: alignment, containment, then resizability.
            if offset % PAGE:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "slice offset is not page-aligned")
            if offset + rounded > self.size:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "slice beyond the parent")
            if self.size_owner.resizable or self.resizable:
                raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "slice of a resizable VMO")
            self._check_cached()
            if k.mem.armed:
                k.mem.alloc("object")
            child = Vmo(k, self.store, self.base + offset, rounded, ContentSize(size))
            child.kind = "slice"
        elif options & zx.ZX_VMO_CHILD_REFERENCE:
            if options & ~(zx.ZX_VMO_CHILD_REFERENCE | zx.ZX_VMO_CHILD_RESIZABLE):
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "REFERENCE takes only RESIZABLE")
            # VmObjectPaged::CreateChildReference's order.
            if offset != 0 or size != 0:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "a reference covers the whole VMO")
            if self.kind == "slice":
                raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "reference of a slice")
            if resizable and not self.resizable:
                raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "RESIZABLE reference of a non-resizable VMO")
            self._check_cached()
            if k.mem.armed:
                k.mem.alloc("object")
            child = Vmo(k, self.store, self.base, 0, self.content)
            child.kind = "reference"
            child.size_owner = self.size_owner
        else:
            kind = options & _SNAPSHOTS
            if kind not in (zx.ZX_VMO_CHILD_SNAPSHOT, zx.ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE,
                            zx.ZX_VMO_CHILD_SNAPSHOT_MODIFIED):
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "exactly one SNAPSHOT type is required")
            if options & ~(_SNAPSHOTS | zx.ZX_VMO_CHILD_RESIZABLE):
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown child options {options:#x}")
            if offset % PAGE:
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "offset is not page-aligned")
            if (self.store.chain_offset() * PAGE + self.base + offset + rounded) > (1 << 64) - 1:
                # The offsets accumulated down the copy-on-write chain must fit in 64 bits.
                raise ZxError(zx.ZX_ERR_INVALID_ARGS, "offset overflows through the parent chain")
            if self.pin_count:
                raise ZxError(zx.ZX_ERR_BAD_STATE, "pinned pages")
            self._check_cached()
            if k.mem.armed:
                k.mem.alloc("object")
            visible = max(0, min(rounded, self.size - offset)) if offset < self.size else 0
            store = self.store.snapshot((self.base + offset) // PAGE, visible // PAGE)
            child = Vmo(k, store, 0, rounded, ContentSize(size))
            child.kind = "snapshot"
            child.immutable = no_write and kind == zx.ZX_VMO_CHILD_SNAPSHOT
        # A reference shares its parent's pages and size: it is resizable when they are
        # (without ZX_VMO_CHILD_RESIZABLE its handle lacks ZX_RIGHT_RESIZE, so
        # zx_vmo_set_size through it is ACCESS_DENIED, as VmoReference.UnsupportedResize).
        child.resizable = resizable or (child.kind == "reference" and self.size_owner.resizable)
        child.options = zx.ZX_VMO_RESIZABLE if resizable else 0
        child.name = self.name
        child.parent = self
        if child.kind != "snapshot":
            # A slice or reference keeps its parent alive; a snapshot keeps only the
            # hidden copy-on-write store (the parent VMO may go away before it).
            self.retain()
        self.children.append(child)
        if len(self.children) == 1:
            self.update_signals(zx.ZX_VMO_ZERO_CHILDREN, 0)
            obs = self.child_observer
            if obs is not None and hasattr(obs, "on_first_child"):
                obs.on_first_child(self)
            hook = getattr(k, "vmo_hooks", None)
            if hook is not None and hook.first_child is not None:
                hook.first_child(kernel=k, vmo=self)
        k_trace = k.trace
        if k_trace is not None:
            k.emit("vmo.child_created", self.koid, child.koid, child.kind)
        return child

    def _check_cached(self) -> None:
        if self.cache_policy != zx.ZX_CACHE_POLICY_CACHED:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "children of an uncached VMO are not supported")

    def create_reference(self) -> Vmo:
        """A ZX_VMO_CHILD_REFERENCE of the whole VMO (unpublished)."""
        return self.create_child(zx.ZX_VMO_CHILD_REFERENCE, 0, 0)

    def set_child_observer(self, observer: ChildObserver | None) -> None:
        """Register (or clear) the observer told about zero-children transitions."""
        self.child_observer = observer

    # ------------------------------------------------------------------ size
    @property
    def size(self) -> int:
        """The page-rounded size."""
        return self.size_owner._size

    @property
    def content_size(self) -> int:
        """The content (stream) size."""
        return self.content.value

    def mappable_size(self) -> int:
        return self.size_owner._size

    def set_size(self, size: int) -> None:
        """Resize (the caller checked rights and resizability)."""
        rounded = round_size(size)
        if self.store.parent is not None and (
            self.store.chain_offset() * PAGE + self.base + rounded > (1 << 64) - 1
        ):
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "size overflows with the offset in the parent chain")
        owner = self.size_owner
        old = owner._size
        if rounded < old:
            first = (self.base + rounded) // PAGE
            last = (self.base + old) // PAGE - 1
            if self.pin_count and first <= last:
                raise ZxError(zx.ZX_ERR_BAD_STATE, "shrinking would discard pinned pages")
            if first <= last:
                self.store.drop(first, last)
            if self.store.parent is not None:
                # Pages cut off stay cut off: growing again shows zeros, not the parent's.
                self.store.parent_limit = min(self.store.parent_limit, (self.base + rounded) // PAGE)
        if size % PAGE:
            # Bytes from the new size to the page end read as zeros.
            self.store.zero(self.base + size, rounded - size)
        owner._size = rounded
        self.content.value = size

    def set_content_size(self, value: int) -> None:
        """Set the content (stream) size alone (shared with reference children); the
        caller zeroes what must read as zeros."""
        self.content.value = value

    def expand(self, size: int) -> int:
        """Grow to `size` rounded up to a page, keeping the content size (Zircon's
        ExpandIfNecessary for streams); OUT_OF_RANGE above the maximum VMO size. Returns
        the previous size, for `undo_expand` if a later step of the caller fails."""
        rounded = round_size(size)
        owner = self.size_owner
        old = owner._size
        if rounded > old:
            owner._size = rounded
        return old

    def undo_expand(self, old_size: int) -> None:
        """Take back an `expand` whose new range was never written."""
        self.size_owner._size = old_size

    def zero_range(self, offset: int, length: int) -> None:
        """Make [offset, offset+length) read as zeros (whole pages are freed)."""
        self._check(offset, length)
        if length:
            self.store.zero(self.base + offset, length)

    # ------------------------------------------------------------------ bytes
    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"[{offset}, {offset}+{length}) is outside the VMO")

    def read(self, offset: int, length: int) -> bytes:
        """Read bytes; ZX_ERR_OUT_OF_RANGE past the size."""
        self._check(offset, length)
        return self.store.read(self.base + offset, length)

    def write(self, offset: int, data: bytes) -> None:
        """Write bytes; ZX_ERR_OUT_OF_RANGE past the size (all or nothing)."""
        self._check(offset, len(data))
        self.store.write(self.base + offset, data)

    def read_bytes(self, offset: int, length: int) -> bytes:
        # `read` inlined: every access through a mapping comes here.
        if offset < 0 or length < 0 or offset + length > self.size_owner._size:
            self._check(offset, length)
        return self.store.read(self.base + offset, length)

    def write_bytes(self, offset: int, data: bytes) -> None:
        n = len(data)
        if offset < 0 or offset + n > self.size_owner._size:
            self._check(offset, n)
        # PageStore.write's fast path inlined (within one page already held): every
        # store through a mapping comes here.
        offset += self.base
        within = offset & _PAGE_MASK
        if n and within + n <= PAGE:
            page = self.store.pages.get(offset >> _PAGE_SHIFT)
            if page is not None:
                page[within : within + n] = data
                return
        self.store.write(offset, data)

    def read_i32(self, offset: int) -> int:
        # PageStore.read's one-page fast path, unpacked in place (no bytes copy): futex
        # waits read their word on every call.
        store = self.store
        if store.parent is None and 0 <= offset <= self.size_owner._size - 4:
            offset += self.base
            within = offset & _PAGE_MASK
            if within <= PAGE - 4:
                page = store.pages.get(offset >> _PAGE_SHIFT)
                return 0 if page is None else _unpack_i32(page, within)[0]  # type: ignore[no-any-return]
        return int.from_bytes(self.read_bytes(offset, 4), "little", signed=True)

    def committed_pages(self, offset: int = 0, length: int | None = None) -> int:
        """Pages of the range that hold memory."""
        length = self.size - offset if length is None else length
        if length <= 0:
            return 0
        first = (self.base + offset) // PAGE
        last = (self.base + offset + length - 1) // PAGE
        store = self.store
        if store.parent is not None:
            return store.attributed(first, last)
        return sum(1 for _ in store.pages.irange(first, last))

    def commit(self, offset: int, length: int) -> None:
        """Allocate the pages of a range."""
        if length:
            self.store.ensure((self.base + offset) // PAGE, (self.base + offset + length - 1) // PAGE)

    def decommit(self, offset: int, length: int) -> None:
        """Free the pages of a range (they read as zeros)."""
        if self.pin_count:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "pinned pages cannot be decommitted")
        if length:
            self.store.drop((self.base + offset) // PAGE, (self.base + offset + length - 1) // PAGE)

    # ------------------------------------------------------------------ range ops
    def _cow_root(self) -> Vmo:
        """The VMO whose pages this one shows: through references and slices (Zircon's
        references share their parent's VmCowPages; slices forward to their parent)."""
        v = self
        while v.kind in ("reference", "slice") and v.parent is not None:
            v = v.parent
        return v

    def decommit_supported(self) -> bool:
        """Whether DECOMMIT is possible: the pages belong to a VMO from zx_vmo_create
        (reached through references and slices) that has no copy-on-write child
        anywhere under it (a snapshot child gives it a hidden COW parent in Zircon)."""
        root = self._cow_root()
        if root.kind != "root" or root.store.parent is not None:
            return False  # a snapshot, or memory still sharing pages with a hidden parent
        stack = [root]
        while stack:
            v = stack.pop()
            for c in v.children:
                if c.kind == "snapshot":
                    return False
                stack.append(c)
        return True

    def check_decommit(self, offset: int, size: int) -> int:
        """DECOMMIT's checks in Zircon's order (VmCowPages::DecommitRangeLocked); returns
        the length to decommit. OUT_OF_RANGE: the range reaches past the size; an empty
        range is OK; NOT_SUPPORTED: see `decommit_supported`; INVALID_ARGS:
        unaligned; BAD_STATE: pinned pages."""
        if offset + size > self.size:
            # VmObjectPaged::DecommitRange -> GetCowRange: the whole range must lie inside
            # this VMO (core-tests OpOutOfBounds, DecommitChildSliceTests).
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "range beyond the VMO")
        n = size
        if n == 0:
            return 0
        if not self.decommit_supported():
            raise ZxError(zx.ZX_ERR_NOT_SUPPORTED, "DECOMMIT needs a VMO without copy-on-write children")
        if offset % PAGE or size % PAGE:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, "DECOMMIT needs a page-aligned range")
        if self.pinned():
            raise ZxError(zx.ZX_ERR_BAD_STATE, "pinned pages cannot be decommitted")
        return n

    def pinned(self) -> bool:
        """Whether this VMO or any VMO showing the same pages (its root and the slices and
        references under it) holds a pin: a pinned slice blocks DECOMMIT of its parent."""
        stack = [self._cow_root()]
        while stack:
            v = stack.pop()
            if v.pin_count:
                return True
            stack.extend(c for c in v.children if c.kind in ("slice", "reference"))
        return False

    def stream_size(self) -> int | None:
        """The stream (content) size; None for memory without one (IOB regions)."""
        return self.content.value if self.has_stream_size else None

    def check_range_op(self, op: int, offset: int, size: int) -> int:
        """A VMAR range op's checks on this VMO (see MappableObject); pages it commits."""
        if op in (zx.ZX_VMAR_OP_MAP_RANGE, zx.ZX_VMAR_OP_DONT_NEED, zx.ZX_VMAR_OP_ALWAYS_NEED):
            return 0  # hints on memory that is never evicted are ignored (HintRange)
        if op == zx.ZX_VMAR_OP_DECOMMIT:
            self.check_decommit(offset, size)
            return 0
        if offset + size > self.size:
            raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, "range beyond the VMO")
        if op == zx.ZX_VMAR_OP_COMMIT and size:
            return self.store.missing((self.base + offset) // PAGE, (self.base + offset + size - 1) // PAGE)
        if op == zx.ZX_VMAR_OP_ZERO and self.immutable:
            raise ZxError(zx.ZX_ERR_ACCESS_DENIED, "immutable VMO")
        return 0

    def apply_range_op(self, op: int, offset: int, size: int) -> None:
        """Do a VMAR range op `check_range_op` accepted."""
        if op == zx.ZX_VMAR_OP_COMMIT:
            self.commit(offset, size)
        elif op == zx.ZX_VMAR_OP_DECOMMIT:
            n = min(size, self.size - offset)
            if n:
                self.store.drop((self.base + offset) // PAGE, (self.base + offset + n - 1) // PAGE)
        elif op == zx.ZX_VMAR_OP_ZERO:
            self.store.zero(self.base + offset, size, keep=self.pinned())

    def set_cache_policy(self, policy: int) -> None:
        """zx_vmo_set_cache_policy's rules (VmObjectPaged::SetMappingCachePolicy) after the
        handle checks: a policy outside ZX_CACHE_POLICY_MASK is INVALID_ARGS; BAD_STATE if
        pages are committed and the VMO is not cached now, if pages are pinned, if it is
        mapped, if it has children, or if it is a child."""
        if policy & ~zx.ZX_CACHE_POLICY_MASK:
            raise ZxError(zx.ZX_ERR_INVALID_ARGS, f"unknown cache policy {policy:#x}")
        if self.cache_policy != zx.ZX_CACHE_POLICY_CACHED and self.committed_pages():
            raise ZxError(zx.ZX_ERR_BAD_STATE, "committed pages under an uncached policy")
        if self.pin_count:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "pinned pages")
        if self.num_mappings:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMO is mapped")
        if self.children:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMO has children")
        if self.parent is not None:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the VMO is a child")
        self.cache_policy = policy

    def transfer_from(self, offset: int, length: int, src: Vmo, src_offset: int) -> None:
        """Move the pages of src[src_offset, +length) to self[offset, +length) (page-aligned,
        checked by the caller): the source range then reads as zeros; absent source pages
        become zero pages here. Pages move, so no memory is charged."""
        n = length // PAGE
        if n == 0:
            return
        src_first = (src.base + src_offset) // PAGE
        if src.store.parent is not None:
            # A copy-on-write source: take what it shows (its own or inherited pages, as
            # copies), then hide the range behind zero markers.
            shown = src.store._visible(src_first, src_first + n - 1)
            moved = [(i - src_first, bytearray(pg)) for i, pg in sorted(shown.items())]
            if moved:
                self.kernel.mem.charge_pages(len(moved))
            src.store.zero(src.base + src_offset, length)
        else:
            moved = [(i - src_first, src.store.pages.pop(i))
                     for i in list(src.store.pages.irange(src_first, src_first + n - 1))]
        first = (self.base + offset) // PAGE
        if self.store.parent is not None:
            self.store.zero(self.base + offset, length)  # hide inherited pages first
        else:
            self.store.drop(first, first + n - 1)
        pages = self.store.pages
        for rel, page in moved:
            self.store.markers.discard(first + rel)
            old_page = pages.get(first + rel)
            pages[first + rel] = page
            if old_page is not None:
                self.kernel.mem.uncharge_pages(1)

    def pin(self) -> None:
        """Pin the VMO's pages (they cannot be decommitted or truncated)."""
        self.pin_count += 1

    def unpin(self) -> None:
        """Undo one `pin()`."""
        self.pin_count -= 1

    # ------------------------------------------------------------------ mappings
    def mapping_added(self, mapping: Mapping) -> None:
        self.num_mappings += 1

    def mapping_removed(self, mapping: Mapping) -> None:
        self.num_mappings -= 1
        if self.mapping_listener is not None:
            self.mapping_listener(self, mapping)

    # ------------------------------------------------------------------ info
    def info(self, handle_rights: int, extra_flags: int = zx.ZX_INFO_VMO_VIA_HANDLE) -> zx.zx_info_vmo_t:
        """The ZX_INFO_VMO record as seen through a handle with `handle_rights`."""
        flags = zx.ZX_INFO_VMO_TYPE_PAGED | extra_flags
        if self.resizable:
            flags |= zx.ZX_INFO_VMO_RESIZABLE
        if self.kind == "snapshot":
            flags |= zx.ZX_INFO_VMO_IS_COW_CLONE
        if self.discardable:
            flags |= zx.ZX_INFO_VMO_DISCARDABLE
        if self.immutable:
            flags |= zx.ZX_INFO_VMO_IMMUTABLE
        # Pages are attributed to the VMO that owns them, never to a reference or a slice
        # (VmoReference / VmoSliceTestCase.AttributedCounts).
        committed = self.committed_pages() * PAGE if self.kind not in ("reference", "slice") else 0
        return zx.zx_info_vmo_t(
            koid=self.user_koid or self.koid,
            name=self.name,
            size_bytes=self.size,
            parent_koid=self.parent.koid if self.parent is not None else 0,
            num_children=len(self.children),
            num_mappings=self.num_mappings,
            share_count=max(1, self.num_mappings),
            flags=flags,
            committed_bytes=committed,
            handle_rights=handle_rights,
            cache_policy=self.cache_policy,
            # The page-list bookkeeping: one node per 16 pages that hold memory (a model
            # of VmPageListNode; zero until a page is committed, MetadataBytes).
            metadata_bytes=-(-committed // (16 * PAGE)) * _PAGE_LIST_NODE_BYTES,
            populated_bytes=committed,
        )

    # ------------------------------------------------------------------ lifetime
    def on_destroy(self) -> None:
        k = self.kernel
        store = self.store
        store.users -= 1
        if store.users == 0:
            store.drop(0, (1 << 64) // PAGE)
            store.detach()
        parent = self.parent
        if parent is not None:
            self.parent = None
            parent.children.remove(self)
            if self.kind == "snapshot" and not parent.alive:
                return  # the parent went first: nothing to signal, no reference held
            if not parent.children:
                parent.update_signals(0, zx.ZX_VMO_ZERO_CHILDREN)
                if k.trace is not None:
                    k.emit("vmo.zero_children", parent.koid)
                obs = parent.child_observer
                if obs is not None:
                    obs.on_zero_children(parent)
                hook = getattr(k, "vmo_hooks", None)
                if hook is not None and hook.zero_children is not None:
                    hook.zero_children(kernel=k, vmo=parent)
            if self.kind != "snapshot":
                _release_parent(parent)

    def describe(self) -> dict[str, Any]:
        return {"size": self.size, "kind": self.kind, "children": len(self.children)}
