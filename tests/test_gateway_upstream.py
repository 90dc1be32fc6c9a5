"""The proxy's upstream client (gateway_plugin/upstream.py) against a real HTTP/1.1 server on loopback whose
connections the test controls: keep-alive reuse, the resend of an idempotent call on a connection the upstream
dropped, streamed bodies, the connection limit and the error types the proxy's failover rules rely on."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from gaia_faas.gateway_plugin.upstream import UpstreamPool
from gaia_faas.processes import free_port


class Upstream:
    """Answers each request with its method, body length and framing; ``drop_second`` closes a connection,
    unanswered, when its second request arrives (as a server closing an idle kept connection would)."""

    def __init__(self, drop_second: bool = False, delay_s: float = 0.0):
        self.drop_second, self.delay_s = drop_second, delay_s
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.port = free_port()

    async def start(self):
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", self.port)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            served = 0
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                served += 1
                if self.drop_second and served == 2:
                    return
                lines = head.decode().split("\r\n")
                method = lines[0].split()[0]
                headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
                if headers.get("transfer-encoding") == "chunked":
                    body = b""
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        body += (await reader.readexactly(size + 2))[:-2]
                        if size == 0:
                            break
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                await asyncio.sleep(self.delay_s)
                answer = f"{method} {len(body)} {'chunked' if 'transfer-encoding' in headers else 'length'}".encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def stop(self):
        self.server.close()


def run(scenario, **upstream_options):
    async def main():
        upstream = Upstream(**upstream_options)
        await upstream.start()
        pool = UpstreamPool(limit=8, connect_timeout_s=2, read_timeout_s=5)
        try:
            return await scenario(upstream, pool, f"http://127.0.0.1:{upstream.port}")
        finally:
            await pool.close()
            await upstream.stop()

    return asyncio.run(main())


async def call(pool, method, url, body=None, chunked=False):
    response = await pool.request(method, url, b"", body, chunked=chunked)
    try:
        return (await response.read()).decode()
    finally:
        response.release()


def test_connections_are_kept_and_reused():
    async def scenario(upstream, pool, url):
        answers = [await call(pool, "GET", url + "/x") for _ in range(5)]
        return answers, upstream.connections

    answers, connections = run(scenario)
    assert answers == ["GET 0 length"] * 5
    assert connections == 1


def test_dropped_kept_connection_resends_idempotent_calls_only():
    async def scenario(upstream, pool, url):
        first = await call(pool, "GET", url + "/a")
        second = await call(pool, "GET", url + "/a")  # dropped on the kept connection, resent on a new one
        with pytest.raises(aiohttp.ServerDisconnectedError):  # dropped too, but not idempotent: never sent twice
            await call(pool, "POST", url + "/a", None)
        return first, second, upstream.connections

    first, second, connections = run(scenario, drop_second=True)
    assert first == second == "GET 0 length"
    assert connections == 2


def test_bodies_stream_chunked_or_with_the_callers_length():
    async def body():
        for part in (b"a" * 70000, b"", b"b" * 5):
            yield part

    async def scenario(upstream, pool, url):
        chunked = await call(pool, "POST", url, body(), chunked=True)
        response = await pool.request("PUT", url, b"Content-Length: 70005\r\n", body())
        with_length = (await response.read()).decode()
        response.release()
        return chunked, with_length, upstream.connections

    chunked, with_length, connections = run(scenario)
    assert chunked == "POST 70005 chunked"
    assert with_length == "PUT 70005 length"
    assert connections == 1  # both bodies went out whole, so the connection was kept


def test_connection_limit_makes_callers_wait():
    async def scenario(upstream, pool, url):
        pool.limit = 2
        answers = await asyncio.gather(*(call(pool, "GET", url) for _ in range(6)))
        return answers, upstream.most_open

    answers, most_open = run(scenario, delay_s=0.05)
    assert answers == ["GET 0 length"] * 6
    assert most_open == 2


def test_a_caller_cancelled_while_waiting_for_room_leaves_the_pool_usable():
    async def scenario(upstream, pool, url):
        pool.limit = 1
        first = asyncio.create_task(call(pool, "GET", url))
        waiting = asyncio.create_task(call(pool, "GET", url))
        await asyncio.sleep(0.02)
        waiting.cancel()
        third = asyncio.create_task(call(pool, "GET", url))
        return await asyncio.wait_for(asyncio.gather(first, third), 2), waiting.cancelled()

    answers, cancelled = run(scenario, delay_s=0.1)
    assert answers == ["GET 0 length"] * 2 and cancelled


def test_failures_raise_what_the_proxy_classifies():
    async def scenario(upstream, pool, url):
        with pytest.raises(aiohttp.ClientConnectorError):  # nothing listens: nothing was sent
            await pool.request("GET", f"http://127.0.0.1:{free_port()}/", b"")

        async def stalling_body():
            yield b"x"
            raise TimeoutError  # what the proxy's ClientBody raises for a stalled client

        with pytest.raises(TimeoutError):
            await pool.request("POST", url, b"", stalling_body(), chunked=True)
        slow = UpstreamPool(limit=1, connect_timeout_s=2, read_timeout_s=0.05)
        upstream.delay_s = 0.5
        try:
            with pytest.raises(aiohttp.SocketTimeoutError):
                await slow.request("GET", url, b"")
        finally:
            await slow.close()
        return True

    assert run(scenario)
