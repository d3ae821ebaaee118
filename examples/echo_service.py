"""A request/reply service over a channel with zx_channel_call.

The server process answers each request by copying its first 4 bytes (the transaction id
the kernel wrote there) into the reply; two client threads call it concurrently, and each
gets its own reply because the kernel matches replies by txid. A call with a short
deadline to a request the server delays times out; after the server exits, a call fails
with ZX_ERR_PEER_CLOSED.

    microsim run examples/echo_service.py -- 5
"""

from __future__ import annotations

from microsim import ZxError, zx

R = zx.ZX_CHANNEL_READABLE
PC = zx.ZX_CHANNEL_PEER_CLOSED


def server(ctx) -> int:  # type: ignore[no-untyped-def]
    """Reply "echo: <request>" to each request; "slow" requests are answered late."""
    (chan,) = ctx.handles
    while True:
        seen = ctx.zx.object_wait_one(chan, R | PC, zx.ZX_TIME_INFINITE)
        if not seen & R:
            break
        data, _ = ctx.zx.channel_read(chan)
        txid, body = data[:4], data[4:]
        if body == b"slow":
            ctx.zx.nanosleep(ctx.zx.deadline_after(10_000_000))
        if body == b"quit":
            break
        ctx.zx.channel_write(chan, 0, txid + b"echo: " + body, [])
    ctx.zx.handle_close(chan)
    return 0


def call(ctx, chan: int, text: str, timeout_ns: int = 1_000_000_000) -> str:  # type: ignore[no-untyped-def]
    """One request: the txid placeholder, then the text; returns the reply's text."""
    args = zx.zx_channel_call_args_t(wr_bytes=b"\0\0\0\0" + text.encode(), rd_num_bytes=1024)
    reply, _ = ctx.zx.channel_call(chan, 0, ctx.zx.deadline_after(timeout_ns), args)
    return reply[4:].decode()  # type: ignore[no-any-return]


def client(ctx, chan: int, name: str, n: int, out: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Make `n` calls and check every reply answers its own request."""
    for i in range(n):
        text = f"{name}-{i}"
        reply = call(ctx, chan, text)
        assert reply == f"echo: {text}", (text, reply)
        out.append(reply)


def main(ctx) -> int:  # type: ignore[no-untyped-def]
    """Start the server, run two clients, then show a timeout and PEER_CLOSED."""
    n = int(ctx.args[0]) if ctx.args else 3
    mine, theirs = ctx.zx.channel_create(0)
    ctx.spawn(server, handles=[theirs], name="echo-server")
    replies: list[str] = []
    threads = [ctx.thread(client, ctx, mine, name, n, replies, name=name) for name in ("a", "b")]
    for t in threads:
        ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
        ctx.zx.handle_close(t)
    assert len(replies) == 2 * n
    try:
        call(ctx, mine, "slow", timeout_ns=1_000_000)
        raise AssertionError("the slow call should time out")
    except ZxError as err:
        assert err.status == zx.ZX_ERR_TIMED_OUT
    # The late reply lands in the queue (its txid no longer has a waiter): drain it.
    ctx.zx.object_wait_one(mine, R, zx.ZX_TIME_INFINITE)
    late, _ = ctx.zx.channel_read(mine)
    assert late[4:] == b"echo: slow"
    ctx.zx.channel_write(mine, 0, b"\0\0\0\0quit", [])
    ctx.zx.object_wait_one(mine, PC, zx.ZX_TIME_INFINITE)
    try:
        call(ctx, mine, "anyone?")
        raise AssertionError("the call should fail: the server is gone")
    except ZxError as err:
        assert err.status == zx.ZX_ERR_PEER_CLOSED
    ctx.zx.handle_close(mine)
    print(f"{len(replies)} replies matched their requests; timeout and PEER_CLOSED seen")
    return 0
