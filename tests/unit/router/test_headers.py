"""Which headers the proxy forwards, in each direction."""

from __future__ import annotations

from sgorch.router._headers import filter_end_to_end, render_upstream_headers


def test_hop_by_hop_headers_and_those_named_in_connection_are_dropped() -> None:
    headers = [
        ("Connection", "keep-alive, X-Hop-One"),
        ("connection", "x-hop-two"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Authorization", "Basic abc"),
        ("TE", "trailers"),
        ("Trailer", "Expires"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "websocket"),
        ("X-Hop-One", "1"),
        ("X-HOP-TWO", "2"),
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
    kept = filter_end_to_end(headers)
    assert list(kept.items()) == [
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]


def test_upstream_headers_rewrite_host_and_add_forwarding_headers() -> None:
    out = render_upstream_headers(
        [
            ("Host", "router:8080"),
            ("Content-Length", "12"),
            ("Expect", "100-continue"),
            ("X-Custom", "v"),
        ],
        client_ip="10.0.0.7",
        scheme="http",
        host="router:8080",
        request_id="rid-1",
        drop_authorization=False,
    )
    assert dict(out) == {
        "X-Custom": "v",
        "X-Forwarded-For": "10.0.0.7",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "router:8080",
        "X-Request-Id": "rid-1",
    }


def test_forwarding_headers_from_a_proxy_in_front_are_extended_not_replaced() -> None:
    out = render_upstream_headers(
        [
            ("X-Forwarded-For", "198.51.100.1"),
            ("X-Forwarded-For", "198.51.100.2"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "api.example"),
            ("X-Request-Id", "from-client"),
        ],
        client_ip="10.0.0.7",
        scheme="http",
        host="router:8080",
        request_id="from-client",
        drop_authorization=False,
    )
    assert out.getall("X-Forwarded-For") == ["198.51.100.1, 198.51.100.2, 10.0.0.7"]
    assert out["X-Forwarded-Proto"] == "https"
    assert out["X-Forwarded-Host"] == "api.example"
    assert out.getall("X-Request-Id") == ["from-client"]


def test_authorization_is_kept_unless_it_carried_the_routers_client_token() -> None:
    def render(drop: bool) -> dict[str, str]:
        return dict(
            render_upstream_headers(
                [("Authorization", "Bearer t")],
                client_ip=None,
                scheme="http",
                host=None,
                request_id="r",
                drop_authorization=drop,
            )
        )

    assert render(False)["Authorization"] == "Bearer t"
    assert "Authorization" not in render(True)
