"""Who may talk to the local stack's servers: what the emulator (stack.py serve-emulator) and the page
server (web_serve.py) share.

Listening on 127.0.0.1 keeps other machines out, not the web pages open in this machine's browser:
any site can send requests to 127.0.0.1, and read the answers when the server grants it CORS
(ministack answers every request with `Access-Control-Allow-Origin: *`). A DNS-rebinding site gets
the same reads with no CORS at all, by pointing its own name at 127.0.0.1. So both servers refuse:

- a `Host` that is not one of their own loopback names (127.0.0.1:PORT, localhost:PORT,
  [::1]:PORT), which is what a rebound name sends;
- an `Origin` that is not the sign-in page's own (a browser sends it with every cross-origin read
  and every POST), CORS preflights included;
- a request the browser marks `Sec-Fetch-Site: cross-site` even without an `Origin` (an `<img>`, a
  no-cors GET: unreadable, but the query API's GETs can still write). The emulator only: a link in
  an email opens the page cross-site, and must.

Clients that are not browsers (boto3, the SDK in the function, curl) send none of these headers and
are answered as before.
"""

from __future__ import annotations

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def loopback_hosts(port: int) -> frozenset[str]:
    """The `Host` values that name this server on this machine."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def page_origins(web_port: int) -> frozenset[str]:
    """The sign-in page's origins: the page server answers to each of its loopback names."""
    return frozenset(f"http://{host}" for host in loopback_hosts(web_port))


def refusal(headers: dict[str, str], hosts: frozenset[str], origins: frozenset[str],
            cross_site: bool = True) -> tuple[int, str] | None:
    """Why a request is refused, as (status, reason), or None to answer it. `headers` has
    lower-case names. `cross_site=False` lets a browser's cross-site request without an Origin
    through (the page server: a link in an email is one)."""
    host = headers.get("host", "").lower()
    if host not in hosts:
        # 421 Misdirected Request: this server does not answer for that name.
        return 421, f"this server answers only as {', '.join(sorted(hosts))}"
    origin = headers.get("origin")
    if origin is not None and origin not in origins:
        return 403, "cross-origin requests are answered only for the sign-in page's origin"
    if cross_site and origin is None and headers.get("sec-fetch-site") == "cross-site":
        return 403, "cross-site requests are refused"
    return None


def guard_asgi(app, hosts: frozenset[str], origins: frozenset[str]):
    """Wraps an ASGI app (ministack's): refused requests never reach it, and CORS is granted to the
    page's origin alone, never `*`. Answers to requests without an Origin carry no CORS headers."""

    async def guarded(scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refused = refusal(headers, hosts, origins)
        if refused is not None:
            if scope["type"] == "websocket":
                # Closing before accepting answers the handshake with 403.
                return await send({"type": "websocket.close", "code": 1008})
            status, reason = refused
            body = f"refused: {reason}\n".encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            return await send({"type": "http.response.body", "body": body})
        origin = headers.get("origin")

        async def with_our_cors(message):
            if message["type"] == "http.response.start":
                kept = []
                for name, value in message.get("headers", []):
                    lower = name.lower()
                    if not lower.startswith(b"access-control-"):
                        kept.append((name, value))
                    # The page's origin keeps the emulator's answer (methods, headers it exposes),
                    # with its own origin in place of `*` and never credentials.
                    elif origin is not None and lower not in (b"access-control-allow-origin",
                                                              b"access-control-allow-credentials"):
                        kept.append((name, value))
                if origin is not None:
                    kept.append((b"access-control-allow-origin", origin.encode("latin-1")))
                kept.append((b"vary", b"Origin"))
                message = dict(message, headers=kept)
            await send(message)

        return await app(scope, receive, with_our_cors)

    return guarded
