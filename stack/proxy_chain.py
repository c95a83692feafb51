"""A proxy chain's configs, wired hop to hop on free ports, in front of any upstreams:
the reference servers of a stack, or a service under check."""

from __future__ import annotations

from collections.abc import Callable

from proxies.render import EdgeTls, Hop, Profile, ProxyConfig

from .hosts import LOCAL, Place
from .processes import free_port

HTTP_PORT, HTTPS_PORT = 80, 443  # what a proxy on a host of its own listens on


def chain_configs(
    chain: list[Profile],
    upstreams: tuple[Hop, ...],
    reach: Callable[[Place, int], Hop],
    time_scale: float,
    heartbeat_s: float = 15.0,
    micro_cache: bool = False,
    tls: EdgeTls | None = None,
    places: Callable[[Profile], Place] | None = None,
) -> list[ProxyConfig]:
    """Each hop's config, innermost first (the order to start them in): the innermost
    balances over `upstreams`, each outer one points at the hop inside it. Only the
    outermost, the entry, speaks TLS. With `places`, each hop is on a host of its own and
    listens on the standard port at its address; else all share this machine, on free ports.
    `reach(place, port)` is how the next hop out reaches one (the backend's)."""
    configs = []
    for i, profile in enumerate(reversed(chain)):
        entry_tls = tls if i == len(chain) - 1 else None
        if places is None:
            place, listen = LOCAL, Hop("127.0.0.1", free_port())
        else:
            place = places(profile)
            listen = Hop(place.address, HTTPS_PORT if entry_tls else HTTP_PORT)
        reached = reach(place, listen.port)
        configs.append(ProxyConfig(profile, listen, upstreams, time_scale, heartbeat_s, micro_cache, entry_tls))
        upstreams = (reached,)
    return configs
