"""The model catalog: which models exist for routing, their tier, context window, and where they process data.

A tenant's data region (`tenants.data_region`) admits only models whose provider processes data in that
region; in-process models (`scripted/*`, `local/*`) run on the worker, so they are valid in every region.
A model missing from the catalog has no known region and is never chosen for anyone: residency that cannot
be shown is not residency. Operators extend or replace the shipped catalog with `AIAAS_ROUTER_CATALOG` (a
path to a file of the same shape).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from contracts.conversation import Tier

CATALOG_FILE = Path(__file__).resolve().parent / "data" / "models.json"
ANY_REGION = "*"
# Providers that run inside the worker: whatever script or weights they name, the data stays here.
IN_PROCESS_PREFIXES = ("scripted/", "local/")
_IN_PROCESS_WINDOW = 32_000


class ModelNotInRegion(ValueError):
    """A model that may not see this tenant's data, or that the catalog does not know."""

    def __init__(self, model: str, region: str) -> None:
        super().__init__(f"model {model!r} does not process data in region {region!r}")
        self.model = model
        self.region = region


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    tier: Tier
    regions: frozenset[str]
    context_window: int

    def serves(self, region: str) -> bool:
        return ANY_REGION in self.regions or region in self.regions


class Catalog:
    def __init__(self, models: list[ModelInfo]) -> None:
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ValueError("the model catalog names a model twice")
        self._models = {m.name: m for m in models}
        self._order = names

    @classmethod
    def parse(cls, raw: str) -> Catalog:
        data = json.loads(raw)
        models = []
        for entry in data["models"]:
            regions = entry["regions"]
            if not regions or not all(isinstance(r, str) for r in regions):
                raise ValueError(f"model {entry.get('name')!r} needs at least one region")
            window = int(entry["context_window"])
            if window <= 0:
                raise ValueError(f"model {entry['name']!r} needs a positive context window")
            models.append(ModelInfo(str(entry["name"]), Tier(entry["tier"]), frozenset(regions), window))
        return cls(models)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        return cls.parse(Path(path or CATALOG_FILE).read_text())

    def get(self, name: str | None) -> ModelInfo | None:
        if not name:
            return None
        info = self._models.get(name)
        if info is None and name.startswith(IN_PROCESS_PREFIXES):
            return ModelInfo(name, Tier.SMALL, frozenset({ANY_REGION}), _IN_PROCESS_WINDOW)
        return info

    def allowed(self, name: str, region: str) -> bool:
        info = self.get(name)
        return info is not None and info.serves(region)

    def require_in_region(self, name: str, region: str) -> ModelInfo:
        info = self.get(name)
        if info is None or not info.serves(region):
            raise ModelNotInRegion(name, region)
        return info

    def in_region(self, region: str, tier: Tier | None = None) -> list[ModelInfo]:
        """The region's models in catalog order, optionally of one tier."""
        return [m for n in self._order if (m := self._models[n]).serves(region) and (tier is None or m.tier == tier)]

    def larger_context(self, name: str, region: str) -> list[str]:
        """In-region models with a larger context window than `name`, smallest first."""
        info = self.get(name)
        window = info.context_window if info else 0
        bigger = [m for m in self.in_region(region) if m.context_window > window]
        return [m.name for m in sorted(bigger, key=lambda m: m.context_window)]


@cache
def catalog_at(path: str) -> Catalog:
    """The catalog in `path` (empty: the shipped one), read once per process."""
    return Catalog.load(path or None)
