"""What a phone's radio spends on one job, from the times at which the client sent or
received bytes: a three-state model of the LTE radio (RRC).

- idle: the radio sleeps (DRX), at `idle_w`;
- high power: a transfer first promotes the radio (`promotion_s` at `promotion_w`), and
  bytes then move at `active_w`; transfers here are a few hundred bytes, over in
  milliseconds, so each counts as an instant;
- tail: after the last byte the radio stays in high power for `tail_s` at `tail_w`, in case
  more comes; a transfer within the tail needs no promotion and starts the tail again.

So ten small polls spaced wider than the tail cost ten promotions and ten tails, where one
stream whose heartbeats come within the tail keeps the radio up the whole time: which one
costs more depends on the intervals. The parameters are the scenario's `[radio]`
(`core.scenario.Radio`, LTE as measured by Huang et al., MobiSys 2012).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from .scenario import Radio


def describe(radio: Radio) -> str:
    """The model and its parameters, in a sentence for the report."""
    return (
        f"a three-state LTE radio: promotion {radio.promotion_s * 1000:.0f} ms at {radio.promotion_w:.2f} W, "
        f"high-power tail {radio.tail_s:g} s at {radio.tail_w:.2f} W after the last byte, "
        f"idle {radio.idle_w * 1000:.1f} mW (Huang et al., MobiSys 2012)"
    )


def energy_j(radio: Radio, transfers: Iterable[float]) -> float:
    """Joules the radio spends from the first transfer until its tail after the last one
    ends (idle time in between at the idle power); 0 for no transfer."""
    times = sorted(transfers)
    if not times:
        return 0.0
    promotion_j = radio.promotion_s * radio.promotion_w
    energy = promotion_j
    for before, after in itertools.pairwise(times):
        gap = after - before
        if gap <= radio.tail_s:
            energy += gap * radio.tail_w
        else:
            energy += radio.tail_s * radio.tail_w + (gap - radio.tail_s) * radio.idle_w + promotion_j
    return energy + radio.tail_s * radio.tail_w
