"""What a model call costs: per-token prices from overrides, litellm's table, or a default.

Lookup order for a model: exact names from `AIAAS_MODEL_PRICES`, then exact names from the bundled
`policies/data/model_prices.json`, then patterns (`scripted/*`) from either, longest first; then litellm's
price table (`litellm.model_cost`, the copy bundled with the installed litellm), by the full name and by
the name without its provider prefix; and finally the configured default price. An unknown model never
raises: it costs the default, which is deliberately expensive so that a missing price shows up as spend
rather than as free usage.

Amounts are `Decimal` rounded to the ledger's precision (six places), so the ledger's sums equal the sums
of what each call was charged. litellm is imported on first need only: the gateway never needs it.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.settings import Settings

BUNDLED_PRICES = Path(__file__).resolve().parent / "data" / "model_prices.json"
USD_PLACES = Decimal("0.000001")
_MILLION = Decimal(1_000_000)
OTHER_MODEL = "other"
_MAX_CACHED = 1024


@dataclass(frozen=True, slots=True)
class Price:
    input_per_token: Decimal
    output_per_token: Decimal
    # Where the price came from: "override", a pattern ("pattern:scripted/*"), "litellm" or "default".
    source: str

    @classmethod
    def per_million(cls, input_usd: Any, output_usd: Any, source: str) -> Price:
        inp, out = _amount(input_usd), _amount(output_usd)
        return cls(inp / _MILLION, out / _MILLION, source)


def _amount(value: Any) -> Decimal:
    try:
        # Through str: a float's binary expansion would leak noise digits into every cost.
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ValueError(f"not a price: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"a price must be a finite non-negative number, not {value!r}")
    return amount


def usd(value: Decimal) -> Decimal:
    """`value` at the ledger's precision."""
    return value.quantize(USD_PLACES, rounding=ROUND_HALF_UP)


def parse_prices(raw: Mapping[str, Any], source: str) -> dict[str, Price]:
    """`{"model": {"input_usd_per_mtok": x, "output_usd_per_mtok": y}}` as prices; ValueError when malformed."""
    prices: dict[str, Price] = {}
    for model, entry in raw.items():
        if not isinstance(model, str) or not model or not isinstance(entry, Mapping):
            raise ValueError(f"{source}: expected model name -> {{input_usd_per_mtok, output_usd_per_mtok}}")
        try:
            prices[model] = Price.per_million(entry["input_usd_per_mtok"], entry["output_usd_per_mtok"], source)
        except KeyError as exc:
            raise ValueError(f"{source}: {model!r} lacks {exc.args[0]}") from None
        except ValueError as exc:
            raise ValueError(f"{source}: {model!r}: {exc}") from None
    return prices


def load_bundled(path: Path = BUNDLED_PRICES) -> dict[str, Price]:
    document = json.loads(path.read_text())
    return parse_prices(document.get("models", {}), "override")


def _litellm_price(model: str) -> Price | None:
    # The bundled map, never a network fetch; `activities/__init__.py` sets the same for the workers.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    table: Mapping[str, Any] = litellm.model_cost
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        entry = table.get(name)
        if not isinstance(entry, Mapping):
            continue
        try:
            return Price(_amount(entry["input_cost_per_token"]), _amount(entry["output_cost_per_token"]), "litellm")
        except (KeyError, ValueError):
            continue
    return None


class Pricing:
    def __init__(
        self,
        overrides: Mapping[str, Price] | None = None,
        *,
        default: Price,
        known_models: Iterable[str] = (),
        use_litellm: bool = True,
    ) -> None:
        overrides = dict(overrides or {})
        self._exact = {name: price for name, price in overrides.items() if not _is_pattern(name)}
        # Longest pattern first: `scripted/slow-*` is more specific than `scripted/*`.
        self._patterns = sorted(
            ((name, price) for name, price in overrides.items() if _is_pattern(name)),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self._default = default
        self._use_litellm = use_litellm
        self._cache: dict[str, Price] = {}
        self._labels = frozenset(name for name in (*self._exact, *known_models) if name)

    @classmethod
    def from_settings(cls, settings: Settings) -> Pricing:
        """Bundled overrides, then `AIAAS_MODEL_PRICES` over them; the configured models as metric labels."""
        overrides = load_bundled()
        if settings.model_prices.strip():
            try:
                raw = json.loads(settings.model_prices)
            except json.JSONDecodeError as exc:
                raise ValueError(f"AIAAS_MODEL_PRICES is not JSON: {exc}") from None
            if not isinstance(raw, dict):
                raise ValueError("AIAAS_MODEL_PRICES must be a JSON object of model -> prices")
            overrides.update(parse_prices(raw, "override"))
        default = Price.per_million(
            settings.default_input_usd_per_mtok, settings.default_output_usd_per_mtok, "default"
        )
        return cls(overrides, default=default, known_models=_configured_models(settings))

    def price(self, model: str) -> Price:
        found = self._cache.get(model)
        if found is None:
            found = self._lookup(model)
            if len(self._cache) < _MAX_CACHED:
                self._cache[model] = found
        return found

    def _lookup(self, model: str) -> Price:
        exact = self._exact.get(model)
        if exact is not None:
            return exact
        for pattern, price in self._patterns:
            if fnmatch.fnmatchcase(model, pattern):
                return Price(price.input_per_token, price.output_per_token, f"pattern:{pattern}")
        if self._use_litellm and model:
            try:
                found = _litellm_price(model)
            except Exception:  # a broken price table must not stop a call from being billed
                found = None
            if found is not None:
                return found
        return self._default

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
        price = self.price(model)
        return usd(price.input_per_token * max(0, prompt_tokens) + price.output_per_token * max(0, completion_tokens))

    def estimate(self, model: str, prompt_tokens_estimate: int, max_completion_tokens: int) -> Decimal:
        """What to reserve before the call: the prompt as estimated and the longest answer allowed."""
        return self.cost(model, prompt_tokens_estimate, max_completion_tokens)

    def metric_label(self, model: str) -> str:
        """`model` when configured somewhere, its pattern when one matches, else "other": bounded labels."""
        if model in self._labels:
            return model
        for pattern, _price in self._patterns:
            if fnmatch.fnmatchcase(model, pattern):
                return pattern
        return OTHER_MODEL


def _is_pattern(name: str) -> bool:
    return any(char in name for char in "*?[")


def _configured_models(settings: Settings) -> set[str]:
    names = {settings.model_small, settings.model_large}
    try:
        pinned = json.loads(settings.agent_models) if settings.agent_models else {}
    except json.JSONDecodeError:
        pinned = {}
    if isinstance(pinned, dict):
        names.update(str(value) for value in pinned.values())
    return {name for name in names if name}


def estimate_tokens(texts: Iterable[str | None]) -> int:
    """A rough size (about four characters a token) for reserving before the provider counts, and for
    billing a provider that reports no usage."""
    return sum(len(text or "") for text in texts) // 4 + 1
