"""Renders a proxy profile's template into a config folder, with time-scaled limits.

A profile names a real engine (nginx, HAProxy or Caddy) and a template beside this file.
`render()` fills in the listen address, the upstream hops and every timeout multiplied
by the scenario's time scale, and writes any extra files (Cloudflare's error pages as
raw HTTP responses). The folder can be used in place or mounted into a container.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path

from reference_server.config import Settings
from reference_server.contract import PER_REQUEST_HEADERS

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
PAGES = HERE / "pages"
MAX_BODY_BYTES = 100 * 1024 * 1024  # Cloudflare Free/Pro upload limit; not scaled
NGINX_TIMER_LAZY_MS = 300


class _Template(string.Template):
    """Only `${name}` is ours: nginx's `$variables` and HAProxy's `%[...]` pass through."""

    # A str, as the documentation says to give it: Template compiles it in __init_subclass__,
    # which typeshed does not model (it types the attribute as the compiled pattern).
    pattern = r"\$(?:(?P<escaped>\$\$)|\{(?P<braced>[a-z_]+)\}|(?P<named>(?!))|(?P<invalid>(?!)))"  # type: ignore[assignment]


@dataclass(frozen=True)
class Hop:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str) -> Hop:
        """`http://127.0.0.1:8080/` (or https) -> the hop; a URL without a port is refused."""
        host, _, port = url.split("://", 1)[-1].rstrip("/").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{url} needs an explicit port")
        return cls(host, int(port))


# A stream timeout sized by heartbeats allows this many to go missing before a stream
# counts as dead, and assumes the recommended interval when a server sends none.
STREAM_TIMEOUT_HEARTBEATS = 3
RECOMMENDED_HEARTBEAT_S = 15.0


@dataclass(frozen=True)
class Profile:
    """A proxy's published limits (unscaled seconds): the one place they are stated."""

    name: str
    engine: str  # "nginx", "haproxy" or "caddy"
    template: str
    read_s: float  # the limit this profile is known for: no byte from upstream for this long
    idle_s: float | None  # the same between bytes of a stream; None: sized by the server's heartbeats
    connect_s: float
    timeout_status: int  # what it answers when the read limit passes
    summary: str
    buffers_streams: bool = False  # holds an event stream's bytes until its buffers fill or it ends
    passes_upgrade: bool = True  # forwards a WebSocket handshake (Upgrade is hop-by-hop: a proxy must choose to)
    # The real front end this profile stands for (a platform's, or a kind of product): the
    # bench's platforms step runs every pattern behind each profile that has one, alone.
    platform: str = ""
    # A response ends this long after its request was read, however busy (None: never). A
    # scenario can give it another value; no heartbeat or byte moves it.
    lifetime_s: float | None = None

    def idle_limit_s(self, heartbeat_s: float) -> float:
        """The stream idle limit, given the server's heartbeat interval (0: none sent)."""
        if self.idle_s is not None:
            return self.idle_s
        return STREAM_TIMEOUT_HEARTBEATS * (heartbeat_s or RECOMMENDED_HEARTBEAT_S)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        # Stock nginx sends no Upgrade upstream: a WebSocket handshake arrives as a plain GET.
        Profile(
            "nginx-default", "nginx", "nginx-default.conf", 60, 60, 60, 504,
            "stock nginx: 60 s read timeout -> 504, buffering on", passes_upgrade=False,
        ),
        Profile(
            "nginx-tuned", "nginx", "nginx-tuned.conf", 120, None, 60, 504,
            "keep-alive upstream, unbuffered streams cut after three missed heartbeats",
        ),
        Profile(
            "cloudflare", "haproxy", "cloudflare.cfg", 100, 100, 15, 524,
            "100 s without a byte -> 524, cf-ray", platform="Cloudflare",
        ),
        Profile("alb", "haproxy", "alb.cfg", 60, 60, 10, 504, "60 s idle -> 504, reset -> 502", platform="AWS ALB"),
        # Squid's defaults: read_timeout 15 min, connect_timeout 1 min, and
        # http_upgrade_request_protocols unset, which drops the Upgrade header.
        Profile(
            "buffering-proxy", "nginx", "buffering-proxy.conf", 900, 900, 60, 504,
            "corporate proxy: buffers event streams whatever X-Accel-Buffering says, drops Upgrade",
            buffers_streams=True, passes_upgrade=False,
        ),
        # Heroku's router: 30 s to the first byte (H12), then a rolling 55 s window; 5 s to connect.
        Profile(
            "heroku", "caddy", "heroku.Caddyfile", 30, 55, 5, 503,
            "30 s to the first byte -> 503 H12, then 55 s between bytes", platform="Heroku",
        ),
        # Cloud Run's default request timeout, total: WebSockets are "still subject to" it.
        Profile(
            "cloud-run", "caddy", "total-lifetime.Caddyfile", 300, 300, 10, 504,
            "300 s per request however busy: 504 before the first byte, cut after it",
            platform="Google Cloud Run", lifetime_s=300,
        ),
        # A Go proxy with http.Server.WriteTimeout: nothing but the deadline, which is the parameter.
        Profile(
            "max-lifetime-proxy", "caddy", "total-lifetime.Caddyfile", 60, 60, 10, 504,
            "60 s per request however busy (a parameter: lifetime_s): 504 before the first byte, cut after it",
            platform="Go proxy with WriteTimeout", lifetime_s=60,
        ),
        # The global external Application Load Balancer's backend service timeout, 30 s by
        # default: "the time to return a complete response", not an idle timeout.
        Profile(
            "gcp-lb", "caddy", "total-lifetime.Caddyfile", 30, 30, 10, 504,
            "30 s per response however busy: 504 before the first byte, cut after it",
            platform="GCP load balancer", lifetime_s=30,
        ),
        # API Gateway REST, default BUFFERED transfer mode, 29 s integration timeout.
        Profile(
            "api-gateway", "caddy", "api-gateway.Caddyfile", 29, 29, 10, 504,
            "holds the whole response; 504 {\"message\"} if it is not complete in 29 s",
            buffers_streams=True, passes_upgrade=False, platform="AWS API Gateway", lifetime_s=29,
        ),
        # Sophos, Symantec/Blue Coat: event streams held until the connection closes.
        Profile(
            "antivirus-proxy", "caddy", "antivirus-proxy.Caddyfile", 900, 900, 10, 502,
            "inspecting proxy: holds every response whole, event streams included; no limit of its own",
            buffers_streams=True, platform="antivirus or secure web gateway",
        ),
    )
}  # fmt: skip


# The profiles that stand for a hosting platform's front end, in the order above.
PLATFORMS = tuple(name for name, profile in PROFILES.items() if profile.platform)
# What every command's --profile takes.
CHAIN_HELP = f"proxy chain, client side first, joined by '+' ({', '.join(PROFILES)})"


@dataclass(frozen=True)
class EdgeTls:
    """The entry's certificate: browsers speak HTTP/2 only over TLS."""

    chain_pem: str  # the leaf first
    key_pem: str


# The engines that can terminate TLS at the entry, offering HTTP/2 first and HTTP/1.1 too.
TLS_ENGINES = ("haproxy", "nginx")
# Requests one HTTP/2 connection to the HAProxy edge carries at once (its SETTINGS_MAX_CONCURRENT_STREAMS;
# HAProxy's own default too): what a browser's tabs share over HTTP/2.
HTTP2_STREAMS = 100
TLS_CHAIN_FILE = "edge-chain.pem"
TLS_KEY_FILE = "edge-key.pem"


@dataclass(frozen=True)
class ProxyConfig:
    profile: Profile
    listen: Hop
    upstreams: tuple[Hop, ...]
    time_scale: float
    heartbeat_s: float = RECOMMENDED_HEARTBEAT_S  # the server's SSE heartbeat, unscaled (0: none)
    micro_cache: bool = False
    tls: EdgeTls | None = None  # the entry only

    def __post_init__(self) -> None:
        if self.tls is not None and self.profile.engine not in TLS_ENGINES:
            raise ValueError(
                f"TLS at the entry is offered by the HAProxy and nginx profiles; {self.profile.name} runs on Caddy"
            )

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


def parse_chain(spec: str) -> list[Profile]:
    """`cloudflare+nginx-tuned` -> the profiles from the client inwards."""
    names = [part.strip() for part in spec.split("+") if part.strip()]
    unknown = [n for n in names if n not in PROFILES]
    if not names or unknown:
        raise ValueError(f"unknown proxy profile(s) {unknown or spec!r}; known: {', '.join(PROFILES)}")
    return [PROFILES[n] for n in names]


def binding_hop(chain: list[Profile]) -> Profile:
    """The hop whose read limit ends a silent request first."""
    return min(chain, key=lambda p: p.read_s)


# How long the front ends keep an idle client connection: Cloudflare's HTTP/1.1 keep-alive and
# HTTP/2 idle limit (protocol-facts.md), used for every engine.
CLIENT_IDLE_S = 400


def _ms(seconds: float, scale: float) -> int:
    return max(1, round(seconds * scale * 1000))


def _raw_response(status: int, reason: str, body_text: str, content_type: str) -> str:
    body = body_text.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        "Cache-Control: private, max-age=0, no-store, no-cache, must-revalidate\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head + body_text


@dataclass(frozen=True)
class ErrorPage:
    """One of the engine's own errors, answered as the platform answers it."""

    replaces: int  # the engine's status for the error: 504 for a timeout, 502 for a failed upstream
    status: int  # the platform's
    reason: str
    title: str
    text: str

    @property
    def raw_file(self) -> str:
        """HAProxy's whole raw response, named by the platform's status in the `errorfile` line."""
        return f"{self.status}.http"

    @property
    def body_file(self) -> str:
        """Caddy's body alone, named by the error it replaces."""
        return f"{self.replaces}.body"


@dataclass(frozen=True)
class ErrorPages:
    page: str  # a template in pages/ with ${code}, ${title} and ${text}
    content_type: str
    errors: tuple[ErrorPage, ...]

    def body(self, error: ErrorPage) -> str:
        return _Template((PAGES / self.page).read_text()).substitute(
            code=error.status, title=error.title, text=error.text
        )

    def render(self) -> dict[str, str]:
        """HAProxy's `errorfile`s: whole raw responses."""
        return {e.raw_file: _raw_response(e.status, e.reason, self.body(e), self.content_type) for e in self.errors}

    def render_bodies(self) -> dict[str, str]:
        """Caddy's: the body alone."""
        return {e.body_file: self.body(e) for e in self.errors}

    def haproxy_errorfiles(self, root: str) -> str:
        return "\n".join(f"    errorfile {e.replaces} {root}/{e.raw_file}" for e in self.errors)

    def caddy_handlers(self, root: str) -> str:
        """Caddy's `handle_errors`: each of Caddy's own errors (504 for a timeout, 502 for an
        upstream that failed) answered with the platform's status and body."""
        handlers = "".join(
            f"""
\t\t@e{e.replaces} expression {{err.status_code}} == {e.replaces}
\t\thandle @e{e.replaces} {{
\t\t\trewrite * /{e.body_file}
\t\t\theader Content-Type "{self.content_type}"
\t\t\tfile_server {{
\t\t\t\tstatus {e.status}
\t\t\t}}
\t\t}}"""
            for e in self.errors
        )
        return f"\thandle_errors {{\n\t\troot * {root}{handlers}\n\t}}"


HTML = "text/html; charset=UTF-8"
ERROR_PAGES: dict[str, ErrorPages] = {
    "cloudflare": ErrorPages("cloudflare-error.html", HTML, (
        ErrorPage(504, 524, "A Timeout Occurred", "A timeout occurred",
                  "The origin web server timed out responding to this request."),
        ErrorPage(503, 521, "Web Server Is Down", "Web server is down",
                  "The web server is not returning a connection."),
        ErrorPage(502, 520, "Unknown Error", "Web server is returning an unknown error",
                  "There is an unknown connection issue between Cloudflare and the origin web server."),
        ErrorPage(413, 413, "Payload Too Large", "Request Entity Too Large",
                  "The request body is larger than this edge accepts (100 MB)."),
    )),
    # Heroku's router answers 503 for its own errors, with the code in its log: H12 for a
    # request timeout, H13 for a dyno that closed the connection without answering.
    "heroku": ErrorPages("heroku-error.html", HTML, (
        ErrorPage(504, 503, "Service Unavailable", "Application Error", "H12 desc=Request timeout"),
        ErrorPage(502, 503, "Service Unavailable", "Application Error",
                  "H13 desc=Connection closed without response"),
    )),
    # Google's front ends are Envoy: its words for a timeout and for an upstream it cannot reach.
    **{
        name: ErrorPages("google-error.txt", "text/plain", (
            ErrorPage(504, 504, "Gateway Timeout", "", "upstream request timeout"),
            ErrorPage(502, 502, "Bad Gateway", "",
                      "upstream connect error or disconnect/reset before headers. reset reason: connection failure"),
        ))
        for name in ("cloud-run", "gcp-lb")
    },
    "api-gateway": ErrorPages("api-gateway-error.json", "application/json", (
        ErrorPage(504, 504, "Gateway Timeout", "", "Endpoint request timed out"),
        ErrorPage(502, 502, "Bad Gateway", "", "Internal server error"),
    )),
}  # fmt: skip


def render(config: ProxyConfig, folder: Path, root: str | None = None) -> Path:
    """Write the config (and its extra files) into `folder`; return the main file.

    `root` is where the proxy will see `folder` (a container mount point); by default
    the folder itself.
    """
    p = config.profile
    scale = config.time_scale
    root = root or str(folder)
    read_ms, client_ms = _ms(p.read_s, scale), _ms(CLIENT_IDLE_S, scale)
    values: dict[str, object] = {
        "root": root,
        "listen": str(config.listen),
        "connect_ms": _ms(p.connect_s, scale),
        "read_ms": read_ms,
        "api_read_ms": read_ms,
        # Plus nginx's NGX_TIMER_LAZY_DELAY: it moves a timer only when the move exceeds
        # 300 ms, so a timer can fire up to 300 ms (real time, not scaled) after the last read.
        "stream_read_ms": _ms(p.idle_limit_s(config.heartbeat_s), scale) + NGINX_TIMER_LAZY_MS,
        "idle_ms": _ms(p.idle_limit_s(config.heartbeat_s), scale),
        "client_ms": client_ms,
        "max_body_bytes": MAX_BODY_BYTES,
        "user": "user root;" if p.engine == "nginx" and os.geteuid() == 0 else "",
        "scheme": config.scheme,
        "tls": _tls_listen(config, root),
    }
    if p.engine == "nginx":
        # Stock nginx takes a server out for 10 s after one failure; tuned keeps trying them all.
        option = " max_fails=0" if p.name == "nginx-tuned" else ""
        values["servers"] = "\n".join(f"        server {hop}{option};" for hop in config.upstreams)
        # Idle upstream connections are dropped before the server's own idle timeout closes them,
        # or nginx could send a POST down a connection closing under it (a 502 it does not retry).
        values["upstream_idle_s"] = max(1, int(Settings().idle_timeout_s / 2))
        values["cache_zone"], values["status_location"] = _micro_cache(root) if config.micro_cache else ("", "")
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    elif p.engine == "caddy":
        values.update(_caddy_values(config, root, read_ms, client_ms))
    else:
        values["servers"] = "\n".join(f"    server s{i} {hop}" for i, hop in enumerate(config.upstreams))
        values["streams_per_connection"] = HTTP2_STREAMS
        values["errors"] = ERROR_PAGES[p.name].haproxy_errorfiles(root) if p.name in ERROR_PAGES else ""
    folder.mkdir(parents=True, exist_ok=True)
    if p.name in ERROR_PAGES:
        pages = ERROR_PAGES[p.name]
        for name, text in (pages.render_bodies() if p.engine == "caddy" else pages.render()).items():
            (folder / name).write_text(text)
    for name, text in _tls_files(config).items():
        (folder / name).write_text(text)
    text = _Template((TEMPLATES / p.template).read_text()).substitute(values)
    main = folder / p.template
    main.write_text(text)
    return main


def _tls_files(config: ProxyConfig) -> dict[str, str]:
    if not config.tls:
        return {}
    if config.profile.engine == "haproxy":  # one file: the key, then the chain
        return {TLS_CHAIN_FILE: config.tls.key_pem + config.tls.chain_pem}
    return {TLS_CHAIN_FILE: config.tls.chain_pem, TLS_KEY_FILE: config.tls.key_pem}


def _tls_listen(config: ProxyConfig, root: str) -> str:
    """What follows the listen address: TLS with HTTP/2 offered first (ALPN), or nothing."""
    if not config.tls:
        return ""
    if config.profile.engine == "haproxy":
        return f" ssl crt {root}/{TLS_CHAIN_FILE} alpn h2,http/1.1"
    return (
        f" ssl http2;\n        ssl_certificate {root}/{TLS_CHAIN_FILE};\n"
        f"        ssl_certificate_key {root}/{TLS_KEY_FILE}"
    )


# Go's write deadline would also stop the error page of a request that times out before its
# first byte: the response-header timeout fires this much earlier (real time, not scaled),
# or a tenth of the lifetime when that is shorter.
CADDY_STATUS_LEAD_MS = 100


def _caddy_values(config: ProxyConfig, root: str, read_ms: int, client_ms: int) -> dict[str, object]:
    """Caddy's values beyond the engines' common ones, from which it takes the read and client limits."""
    p = config.profile
    values: dict[str, object] = {
        "upstreams": " ".join(str(hop) for hop in config.upstreams),
        "header_ms": read_ms,
        "listen_host": config.listen.host,
        "listen_port": config.listen.port,
    }
    write = ""
    if p.lifetime_s is not None and not p.buffers_streams:
        lifetime_ms = _ms(p.lifetime_s, config.time_scale)
        write = f"\n\t\t\twrite {lifetime_ms}ms"
        values["header_ms"] = max(1, min(read_ms, lifetime_ms - min(CADDY_STATUS_LEAD_MS, lifetime_ms // 10)))
    globals_values = {"root": root, "client_ms": client_ms, "write_timeout": write}
    values["globals"] = _Template((TEMPLATES / "caddy-globals.Caddyfile").read_text()).substitute(globals_values)
    values["errors"] = ERROR_PAGES[p.name].caddy_handlers(root) if p.name in ERROR_PAGES else ""
    return values


def _micro_cache(root: str) -> tuple[str, str]:
    # A cached answer is many clients': the headers about one request or one client are hidden,
    # then added back only when the answer came from the upstream. On a hit nginx 1.22 fills
    # $upstream_http_* from the cached copy, so a plain add-back would replay the first client's.
    fresh = "\n".join(
        f'    map $upstream_cache_status ${_fresh(name)} {{ ~^(HIT|STALE|UPDATING|REVALIDATED)$ ""; '
        f"default $upstream_http_{_variable(name)}; }}"
        for name in PER_REQUEST_HEADERS
    )
    cache = f"    proxy_cache_path {root}/cache keys_zone=status:1m max_size=16m inactive=10s use_temp_path=off;"
    zone = f"{cache}\n{fresh}"
    per_request = "\n".join(
        f"            proxy_hide_header {name};\n            add_header {name} ${_fresh(name)} always;"
        for name in PER_REQUEST_HEADERS
    )
    # One second, whatever the time scale: nginx caches in whole seconds only.
    location = f"""        location ~ ^/v1/download/jobs/[^/]+$ {{
            proxy_pass http://backend;
            proxy_cache status;
            proxy_cache_valid 200 1s;
            # A long poll is one client's wait for a change: never answered from the cache.
            proxy_cache_bypass $arg_wait $http_prefer;
            proxy_no_cache $arg_wait $http_prefer;
            proxy_ignore_headers Cache-Control Expires;
            proxy_cache_lock on;
            proxy_cache_use_stale updating;
            add_header X-Cache-Status $upstream_cache_status always;
{per_request}
        }}"""
    return zone, location


def _variable(header: str) -> str:
    return header.lower().replace("-", "_")


def _fresh(header: str) -> str:
    """The nginx variable holding this header's upstream value, empty on a cache hit."""
    return f"fresh_{_variable(header)}"
