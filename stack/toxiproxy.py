"""Toxiproxy (Shopify's TCP fault proxy) as the network between the clients and the entry
proxy: latency, jitter and bandwidth on every connection, and drops scheduled per
connection as the scenario's `[network]` says.

The drops use two Toxiproxy proxies in a row, one per kind, because a toxic added to or
removed from a chain restarts the toxic before it, which draws its toxicity again:

    clients -> [latency, bandwidth, resets] -> [blackholes] -> entry proxy

Each window the harness adds a drop toxic with the window's probability and removes it
when the window ends; Toxiproxy draws, per connection, whether the toxic applies.
- A reset is `reset_peer` on the responses: the connection is reset at its next byte.
- A blackhole is a `latency` toxic longer than the window on the requests: what the client
  sends is held and nobody is told, so a poll, an initiate or a stream being opened goes
  unanswered until the window ends (then the request goes through, late) or the client
  gives up. A stream already flowing keeps flowing.

Why requests and not answers: held answers would silence flowing streams too, but when the
window ends Toxiproxy 2.5 flushes what it held to each connection, and for a client that
has already given up that write waits 5 s, one connection after another, while no new
connection is accepted (measured: every reconnect in those seconds failed, six per job).
Held requests flush to the entry proxy, which is still there. Toxiproxy's `timeout` toxic
drops instead of holding, but removing it closes every connection of the proxy, hit or not.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

from core.scenario import Network
from proxies.render import Hop

from .go_build import TOXIPROXY
from .processes import ManagedProcess, ProcessService, ServiceError, free_port, http_ok

RESPONSES = "downstream"  # Toxiproxy's name for the bytes going back to the client
REQUESTS = "upstream"
# The two Toxiproxy proxies, from the clients inwards: what every connection goes through
# plus the resets, then the blackholes.
RESETS, BLACKHOLES = "resets", "blackholes"


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    attributes: dict[str, int]
    toxicity: float = 1.0


class ToxiproxyServer(ProcessService):
    def __init__(self, workdir: Path, seed: int = 1) -> None:
        binary = TOXIPROXY.path
        if not binary.exists():
            raise ServiceError(f"Toxiproxy is not built at {binary}; run `make setup` (or python -m stack.go_build)")
        self.port = free_port()
        argv = [str(binary), "-host", "127.0.0.1", "-port", str(self.port), "-seed", str(seed)]
        # Its default level logs every toxic change and connection: work and disk a run does not need.
        env = {"LOG_LEVEL": "warn"}
        self.process = ManagedProcess("toxiproxy", argv, workdir, env=env, ready=http_ok(f"{self.api}/version"))

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ToxiproxyApi:
    """The few calls of Toxiproxy's HTTP API the harness makes; an error names the call."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, f"{self.url}{path}", json=body, timeout=10)
        if resp.status_code >= 300:
            raise ServiceError(f"toxiproxy {method} {path} answered {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def create(self, name: str, listen: Hop, upstream: Hop) -> None:
        self._call("POST", "/proxies", {"name": name, "listen": str(listen), "upstream": str(upstream)})

    def add(self, proxy: str, toxic: Toxic) -> None:
        self._call("POST", f"/proxies/{proxy}/toxics", asdict(toxic))

    def remove(self, proxy: str, toxic: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}")

    def delete(self, proxy: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}")


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def base_toxics(network: Network, rtt_s: float, time_scale: float) -> list[Toxic]:
    """What every connection goes through: half the round trip each way, with jitter, and
    the bandwidth limit if any."""
    toxics = []
    for stream in (REQUESTS, RESPONSES):
        delay = {"latency": _ms(rtt_s / 2 * time_scale), "jitter": _ms(network.jitter_s * time_scale)}
        toxics.append(Toxic(f"latency_{stream}", "latency", stream, delay))
        if network.bandwidth_kib_s:
            toxics.append(Toxic(f"bandwidth_{stream}", "bandwidth", stream, {"rate": network.bandwidth_kib_s}))
    return toxics


@dataclass(frozen=True)
class DropKind:
    """One kind of drop: the proxy it is made on, its toxic, and its window (real seconds)."""

    proxy: str
    toxic: Toxic
    window_s: float


def drop_kinds(network: Network, time_scale: float) -> list[DropKind]:
    kinds = []
    if network.resets_per_hour:
        reset = Toxic("reset", "reset_peer", RESPONSES, {"timeout": 0}, network.reset_probability)
        kinds.append(DropKind(RESETS, reset, network.reset_window_s * time_scale))
    if network.blackholes_per_hour:
        window_s = network.blackhole_s * time_scale
        # Longer than the window, so a hit connection's bytes are held until the window ends.
        held = {"latency": _ms(window_s) * 10 + 60_000, "jitter": 0}
        blackhole = Toxic("blackhole", "latency", REQUESTS, held, network.blackhole_probability)
        kinds.append(DropKind(BLACKHOLES, blackhole, window_s))
    return kinds


@dataclass
class ImpairedNetwork:
    """A running impaired network: where clients connect, and what it did."""

    entry: str
    description: dict[str, Any]
    windows: dict[str, int] = field(default_factory=dict)  # drop kind -> windows drawn


def _windows(url: str, kind: DropKind, stop: threading.Event, drawn: dict[str, int]) -> None:
    api = ToxiproxyApi(url)  # a session of its own: a requests.Session is not shared across threads
    while not stop.is_set():
        api.add(kind.proxy, kind.toxic)
        drawn[kind.proxy] = drawn.get(kind.proxy, 0) + 1
        stop.wait(kind.window_s)
        api.remove(kind.proxy, kind.toxic.name)


@contextlib.contextmanager
def impaired_network(
    network: Network, rtt_s: float, entry: Hop, time_scale: float, workdir: Path, seed: int, scheme: str = "http"
) -> Iterator[ImpairedNetwork]:
    """Toxiproxy in front of `entry`, impairing as `network` says, until the block ends;
    then every proxy is deleted and the server stopped, whatever happened inside. Toxiproxy
    passes bytes, so a TLS entry (`scheme` https) is spoken to through it as it is."""
    with ToxiproxyServer(workdir, seed) as server:
        api = ToxiproxyApi(server.api)
        inner, outer = Hop("127.0.0.1", free_port()), Hop("127.0.0.1", free_port())
        api.create(BLACKHOLES, inner, entry)
        api.create(RESETS, outer, inner)
        base = base_toxics(network, rtt_s, time_scale)
        for toxic in base:
            api.add(RESETS, toxic)
        kinds = drop_kinds(network, time_scale)
        stop = threading.Event()
        drawn: dict[str, int] = {}
        threads = [threading.Thread(target=_windows, args=(server.api, k, stop, drawn), daemon=True) for k in kinds]
        description = {
            "kind": "toxiproxy",
            "version": TOXIPROXY.version,
            "toxics": [asdict(t) for t in base] + [{**asdict(k.toxic), "window_s": k.window_s} for k in kinds],
            "scenario": asdict(network),
        }
        running = ImpairedNetwork(f"{scheme}://{outer}", description, drawn)
        for thread in threads:
            thread.start()
        try:
            yield running
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            for name in (RESETS, BLACKHOLES):
                with contextlib.suppress(ServiceError, requests.RequestException):
                    api.delete(name)
