"""A proxy chain's configs, wired hop to hop on free ports, in front of any upstreams:
the reference servers of a stack, or a service under check."""

from __future__ import annotations

from proxies.render import Hop, Profile, ProxyConfig

from .processes import free_port


def chain_configs(
    chain: list[Profile],
    upstreams: tuple[Hop, ...],
    upstream_host: str,
    time_scale: float,
    heartbeat_s: float = 15.0,
    micro_cache: bool = False,
) -> list[ProxyConfig]:
    """Each hop's config, innermost first (the order to start them in): the innermost
    balances over `upstreams`, each outer one points at the hop inside it."""
    configs = []
    for profile in reversed(chain):
        listen = Hop("127.0.0.1", free_port())
        configs.append(ProxyConfig(profile, listen, upstreams, time_scale, heartbeat_s, micro_cache))
        upstreams = (Hop(upstream_host, listen.port),)
    return configs
