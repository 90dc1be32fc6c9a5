import redis

from gaia_faas.processes import RedisServer, free_port, port_is_open


def test_embedded_redis_starts_stops_and_returns_on_the_same_port():
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.set("k", "v")
        server.stop()
        assert not port_is_open(server.port)
        server.start()
        assert redis.Redis.from_url(server.url).ping()
    assert not port_is_open(server.port)


def test_free_port_is_bindable():
    port = free_port()
    assert 1024 < port < 65536 and not port_is_open(port)
