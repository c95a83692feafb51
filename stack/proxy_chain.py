"""A proxy chain's configs, wired hop to hop on free ports, in front of any upstreams:
the reference servers of a stack, or a service under check."""

from __future__ import annotations

from proxies.render import EdgeTls, Hop, Profile, ProxyConfig

from .processes import free_port


def chain_configs(
    chain: list[Profile],
    upstreams: tuple[Hop, ...],
    upstream_host: str,
    time_scale: float,
    heartbeat_s: float = 15.0,
    micro_cache: bool = False,
    tls: EdgeTls | None = None,
) -> list[ProxyConfig]:
    """Each hop's config, innermost first (the order to start them in): the innermost
    balances over `upstreams`, each outer one points at the hop inside it. Only the
    outermost, the entry, speaks TLS."""
    configs = []
    for i, profile in enumerate(reversed(chain)):
        listen = Hop("127.0.0.1", free_port())
        entry_tls = tls if i == len(chain) - 1 else None
        configs.append(ProxyConfig(profile, listen, upstreams, time_scale, heartbeat_s, micro_cache, entry_tls))
        upstreams = (Hop(upstream_host, listen.port),)
    return configs
