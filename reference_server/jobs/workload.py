"""The simulated work: which files exist, how long preparing one takes, what it produces."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile

from ..config import DelayProfile
from ..contract import DURATION_MIX

EXISTING_EVERY = 7  # the original's catalogue rule in mock mode: ids divisible by 7 exist


def file_exists(file_id: int) -> bool:
    return file_id % EXISTING_EVERY == 0


def existing_file_id(n: int, first: int) -> int:
    """The id of the `n`-th file that exists (from 0) at or after `first`: a job asking for it
    completes, with an artifact, rather than failing with FILE_NOT_FOUND."""
    return -(-first // EXISTING_EVERY) * EXISTING_EVERY + EXISTING_EVERY * n


def draw_delay_s(profile: DelayProfile, rng: random.Random) -> float:
    """Unscaled preparation time of one file."""
    if not profile.enabled:
        return 0.0
    if profile.kind == "mix":
        pick = rng.random()
        for share, low, high in DURATION_MIX:
            if pick < share:
                return rng.uniform(low, high)
            pick -= share
        return rng.uniform(DURATION_MIX[-1][1], DURATION_MIX[-1][2])
    return rng.uniform(profile.min_s, profile.max_s)


def mean_delay_s(profile: DelayProfile) -> float:
    if not profile.enabled:
        return 0.0
    if profile.kind == "mix":
        return sum(share * (low + high) / 2 for share, low, high in DURATION_MIX)
    return (profile.min_s + profile.max_s) / 2


def file_bytes(file_id: int, size: int) -> bytes:
    """A prepared file's stand-in: a block drawn from its id, repeated to its size. Drawing every
    byte cost 160 us of CPU per 64 KiB file, in the worker at each job's end, and the bytes
    themselves matter to nobody."""
    block = hashlib.blake2b(file_id.to_bytes(8, "big", signed=True)).digest()
    return (block * (size // len(block) + 1))[:size]


def build_artifact(file_ids: list[int], size_per_file: int) -> bytes:
    """A zip with one entry per prepared file; the same input always gives the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for file_id in file_ids:
            info = zipfile.ZipInfo(f"file-{file_id}.bin", date_time=(2025, 1, 1, 0, 0, 0))
            archive.writestr(info, file_bytes(file_id, size_per_file))
    return out.getvalue()
