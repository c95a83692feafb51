"""reports/decision.toml, typed: the criteria, the judged complexity with its reasons, the
audiences with their scenario and weights, and the conditions each pattern is judged under."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT = Path(__file__).with_name("decision.toml")
PREFERENCES = ("measured", "simulated", "scale", "intermediaries")


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    better: str  # "higher" or "lower"
    unit: str
    judgement: bool = False
    # Which run a value comes from when several exist: "measured" (the audience's load test),
    # "simulated", "scale" (the scale step's load test, one for every audience), or
    # "intermediaries" (the load tests behind hostile intermediaries, one for every audience).
    prefer: str = "measured"


@dataclass(frozen=True)
class Judgement:
    score: float
    why: str


@dataclass(frozen=True)
class Audience:
    key: str
    label: str
    scenario: str
    weights: dict[str, float]
    patterns: tuple[str, ...]
    friendly: str = ""  # the same clients on a friendly network and stack, to show what changed


@dataclass(frozen=True)
class Condition:
    label: str
    scenario: str  # a scenario the bench runs, by the name its results go by
    audiences: tuple[str, ...] = ()  # the audiences it concerns (none named: every one)


@dataclass(frozen=True)
class Decision:
    criteria: dict[str, Criterion]
    complexity: dict[str, Judgement]
    audiences: dict[str, Audience]
    samples: int
    concentration: float
    seed: int
    conditions: tuple[Condition, ...] = ()

    @property
    def scenarios(self) -> list[str]:
        return sorted({a.scenario for a in self.audiences.values()})


def load(path: Path = DEFAULT) -> Decision:
    data = tomllib.loads(path.read_text())
    criteria = {
        key: Criterion(
            key, c["label"], c["better"], c.get("unit", ""), c.get("judgement", False), c.get("prefer", "measured")
        )
        for key, c in data["criteria"].items()
    }
    for key, c in criteria.items():
        if c.better not in ("higher", "lower"):
            raise ValueError(f"{path}: criteria.{key}.better must be higher or lower")
        if c.prefer not in PREFERENCES:
            raise ValueError(f"{path}: criteria.{key}.prefer must be one of {', '.join(PREFERENCES)}")
    audiences = {}
    for key, a in data["audiences"].items():
        unknown = set(a["weights"]) - set(criteria)
        if unknown:
            raise ValueError(f"{path}: audiences.{key}.weights names unknown criteria {sorted(unknown)}")
        audiences[key] = Audience(
            key, a["label"], a["scenario"], dict(a["weights"]), tuple(a["patterns"]), a.get("friendly", "")
        )
    robustness = data["robustness"]
    return Decision(
        criteria=criteria,
        complexity={p: Judgement(j["score"], j["why"]) for p, j in data["complexity"].items()},
        audiences=audiences,
        samples=robustness["samples"],
        concentration=robustness["concentration"],
        seed=robustness["seed"],
        conditions=tuple(
            Condition(c["label"], c["scenario"], tuple(c.get("audiences", ()))) for c in data.get("conditions", [])
        ),
    )
