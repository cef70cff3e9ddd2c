"""Runs from a YAML config: ``quant run -c config.yaml`` and ``quant wfv -c config.yaml``.

A config names its data (the synthetic market, a directory of CSV/Parquet bar files or the
platform's bar store), its strategy (built in, a signal file's scores, the user's
``package.module:Class``, or with ``name: components`` a component strategy's detectors,
voter, entry filters, sizer, entry rule and exits: :func:`component_strategy`) and
parameters, the portfolio rules, costs, limits, capital policy and simulator
(``event_driven`` or ``vectorized``). Every value is checked where the file is read: a bad
one is a :class:`ConfigError` naming the file, the key and what is expected; bad bars are a
:class:`DataError`. Every run writes ``<artifacts_dir>/<run_id>/`` (default
``QUANT_HOME/reports/simulations``). Walk-forward (``wfv``) picks the parameters with the
best Sharpe on each training fold and applies them to the following test fold; the test
folds, stitched, are the out-of-sample result.
"""

from __future__ import annotations

import cProfile
import inspect
import itertools
import math
import sys
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from quant_engine.backtest import CostModel, MarketPanel, run_panel_backtest
from quant_engine.data import SyntheticMarketConfig, generate_market, load_bar_directory
from quant_engine.data.store import BarStore
from quant_engine.evaluation.performance import drawdown, performance_metrics
from quant_engine.paths import QuantHome
from quant_engine.portfolio import ConstructionConfig
from quant_engine.signals import align_scores, read_score_table
from quant_engine.simulation.artifacts import RunArtifacts, describe_strategy, write_strict_json
from quant_engine.simulation.capital import FullCapital, VolatilityScaled, capital_policy
from quant_engine.simulation.components import ComponentStrategy
from quant_engine.simulation.engine import SimulationConfig, SimulationResult, Simulator
from quant_engine.simulation.events import BarPanel
from quant_engine.simulation.execution import ExecutionConfig
from quant_engine.simulation.exports import round_trips, signal_table
from quant_engine.simulation.limits import RiskLimits
from quant_engine.simulation.records import (
    empty_trades,
    run_metrics,
    trade_lines,
    trades_from_notional,
    with_running_pnl,
)
from quant_engine.simulation.strategies import (
    Momentum,
    ScoreTable,
    SmaCrossover,
    Strategy,
    load_strategy_class,
)
from quant_engine.strategy import AllOf, ExitRules, SignalEntryRule
from quant_engine.strategy.registry import (
    FILTERS,
    SIZERS,
    VOTERS,
    build_filter,
    build_sizer,
    build_voter,
)

STRATEGIES = {"sma_crossover": SmaCrossover, "momentum": Momentum}
SIGNAL_FILE = "signals"  # strategy.name of a signal file's scores
COMPONENTS = "components"  # strategy.name of a ComponentStrategy built from the section
COMPONENT_KEYS = ("name", "signals", "aggregate", "entry_filters", "sizer", "entry", "exits")
COMPONENT_KEYS += ("exit_on_signal", "volatility_window", "history")
ENTRY_KEYS = ("min_strength", "allow_short", "add_to_positions", "lot_size")
ENTRY_KEYS += ("max_gross_exposure", "max_positions", "max_entries_per_symbol")
SIMULATORS = ("event_driven", "vectorized")
SOURCES = ("synthetic", "directory", "csv", "store")  # csv: the older name of directory
SELECTION = ("symbols", "start", "end")  # honoured for every source: start <= day < end
SECTIONS = ("run", "data", "strategy", "portfolio", "costs", "limits", "capital_policy")
SECTIONS += ("simulation", "walk_forward", "exec")
SIMULATION_KEYS = ("capital", "fill_at", "mark", "risk_window", "progress_interval")
SIMULATION_KEYS += ("record_cycles",)


class RunError(ValueError):
    """A user error in a run: its config or its data. The CLI prints it as one line."""


class ConfigError(RunError):
    """A run config that cannot be used; the message names the file and the key."""


class DataError(RunError):
    """Bars that cannot be run (unreadable, invalid, or not matching the selection)."""


@dataclass(frozen=True)
class WalkForwardConfig:
    """Folds of ``train_bars`` then ``test_bars``; ``grid``: parameter -> list of values."""

    train_bars: int = 250
    test_bars: int = 125
    grid: dict[str, list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.train_bars < 2 or self.test_bars < 1:
            raise ValueError(
                f"train_bars must be at least 2 and test_bars at least 1, got "
                f"{self.train_bars} and {self.test_bars}"
            )


@dataclass(frozen=True)
class StrategySource:
    """What ``strategy`` names: a class and the parameters it takes (built in, or
    ``package.module:Class``), or a signal file's scores (``table``)."""

    cls: type
    parameters: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)  # a signal file: path, score, digest
    table: pl.DataFrame | None = field(default=None, compare=False, repr=False)

    def build(self, params: dict[str, Any]) -> Strategy:
        return ScoreTable(self.table) if self.table is not None else self.cls(**params)


@dataclass(frozen=True)
class RunConfig:
    name: str
    simulator: str
    data: dict[str, Any]
    strategy: str
    params: dict[str, Any]
    simulation: SimulationConfig
    artifacts_dir: Path
    walk_forward: WalkForwardConfig
    source: StrategySource

    def resolved(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything the run depends on, as the manifest records and hashes it."""
        return {
            "run": {"name": self.name, "simulator": self.simulator},
            "data": self.data,
            "strategy": {
                "name": self.strategy,
                "params": {**self.params, **(params or {})},
                **self.source.options,
            },
            "simulation": asdict(self.simulation),
            "walk_forward": asdict(self.walk_forward),
        }


def _expected(kind: Any) -> tuple[str, Any]:
    """What a field annotation accepts: (description, checker)."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        text, check = _expected(options[0]) if len(options) == 1 else ("a value", None)
        nullable = type(None) in args
        if not nullable:
            return text, check
        return f"{text} or null", (lambda v: v is None or check is None or check(v))
    if origin is typing.Literal:
        return f"one of {list(args)}", lambda v: v in args
    if kind is bool:
        return "true or false", lambda v: isinstance(v, bool)
    if kind is int:
        return "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)
    if kind is float:
        return (
            "a finite number",
            lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
        )
    if kind is str:
        return "a string", lambda v: isinstance(v, str)
    return "a value", None


def _check_types(cls: type, raw: dict[str, Any], where: str) -> None:
    hints = typing.get_type_hints(cls)
    for key, value in raw.items():
        text, check = _expected(hints[key])
        if check is not None and not check(value):
            if text.startswith("one of"):
                raise ConfigError(f"{where}.{key}: unknown {key} {value!r}, expected {text}")
            raise ConfigError(f"{where}.{key}: expected {text}, got {value!r}")


def _public(cls: type) -> list[str]:
    return sorted(
        f.name
        for f in fields(cls)
        if f.init and not f.name.startswith("_") and f.name != "needs_risk"
    )


def _build(cls: type, raw: Any, where: str) -> Any:
    """``cls(**raw)`` with every key known, every value of its annotated type, else one error."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    known = _public(cls)
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {known}")
    _check_types(cls, raw, where)
    try:
        return cls(**raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _section(raw: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {name}: expected a mapping, got {value!r}")
    return dict(value)


def _day(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a date (YYYY-MM-DD), got {value!r}")


def _data(raw: dict[str, Any], where: str, base: Path) -> dict[str, Any]:
    """The data section resolved: source, its options, and the selection."""
    data = _section(raw, "data", where) or {"source": "synthetic"}
    source = data.pop("source", "synthetic")
    if source not in SOURCES:
        raise ConfigError(f"{where}: data.source: expected one of {list(SOURCES)}, got {source!r}")
    source = "directory" if source == "csv" else source
    selection: dict[str, Any] = {}
    symbols = data.pop("symbols", None)
    if symbols is not None:
        if not (isinstance(symbols, list) and symbols and all(isinstance(s, str) for s in symbols)):
            raise ConfigError(f"{where}: data.symbols: expected a list of names, got {symbols!r}")
        selection["symbols"] = sorted(set(symbols))
    for key in ("start", "end"):
        if data.get(key) is not None:
            selection[key] = _day(data.pop(key), f"{where}: data.{key}").isoformat()
    if "start" in selection and "end" in selection and selection["start"] >= selection["end"]:
        raise ConfigError(f"{where}: data.end must be after data.start, got {selection}")
    if source == "store":
        _only_keys(data, "path", "store", where)
        store = data.get("path")
        if store is not None and not isinstance(store, str):
            raise ConfigError(f"{where}: data.path: expected a path to a bar store, got {store!r}")
        root = (
            base / Path(store).expanduser()
            if store is not None
            else QuantHome.resolve().assets / "raw_bars.parquet"
        )
        options = {"path": str(root.resolve())}
    elif source == "directory":
        _only_keys(data, "directory", "directory", where)
        directory = data.get("directory")
        if not isinstance(directory, str):
            raise ConfigError(
                f"{where}: data.directory: expected a path to the bar files, got {directory!r}"
            )
        options = {"directory": str((base / Path(directory).expanduser()).resolve())}
    else:
        if "start" in selection:  # the synthetic market starts where the selection does
            data["start"] = selection["start"]
        built = _build(SyntheticMarketConfig, data, f"{where}: data")
        options = asdict(built)
    return {"source": source, **options, **selection}


def _policy(raw: dict[str, Any], where: str) -> FullCapital | VolatilityScaled:
    policy = _section(raw, "capital_policy", where) or {"name": "full"}
    name = policy.pop("name", "full")
    classes = {"full": FullCapital, "volatility_scaled": VolatilityScaled}
    if name not in classes:
        raise ConfigError(
            f"{where}: capital_policy.name: expected one of {sorted(classes)}, got {name!r}"
        )
    _build(classes[name], policy, f"{where}: capital_policy")
    return capital_policy(name, **policy)


def _execution(raw: dict[str, Any], simulator: str, where: str) -> ExecutionConfig | None:
    """The ``exec`` section: how the event-driven simulator works its orders (or none); a
    name alone is short for its defaults (``exec: twap``; ``exec: book``: TWAP on the book)."""
    section = raw.get("exec")
    if section is None:
        return None
    if simulator != "event_driven":
        raise ConfigError(f"{where}: exec: orders are worked by simulator: event_driven only")
    if isinstance(section, str):
        short = {name: {"algo": name} for name in ("twap", "vwap", "pov", "is")}
        short["book"] = {"venue": "book"}
        if section not in short:
            raise ConfigError(
                f"{where}: exec: expected a mapping or one of {sorted(short)}, got {section!r}"
            )
        section = short[section]
    return _build(ExecutionConfig, section, f"{where}: exec")


def _artifacts_dir(value: Any, where: str, base: Path) -> Path:
    if value is None:
        return QuantHome.resolve().reports / "simulations"
    if not isinstance(value, str | Path):
        raise ConfigError(f"{where}: expected a directory path, got {value!r}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where}: {path} is a file, expected a directory")
    return path


def load_run_config(path: str | Path) -> RunConfig:
    """Parse and validate a YAML run config (relative paths are relative to the file)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise ConfigError(f"{path}: not valid YAML: {first}") from exc
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections {list(SECTIONS)}, got {type(raw).__name__}"
        )
    where = str(path)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {unknown}; known: {sorted(SECTIONS)}")
    run = _section(raw, "run", where)
    simulator = run.pop("simulator", "event_driven")
    if simulator not in SIMULATORS:
        raise ConfigError(
            f"{where}: run.simulator: expected one of {list(SIMULATORS)}, got {simulator!r}"
        )
    seed = run.pop("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{where}: run.seed: expected an integer, got {seed!r}")
    artifacts = _artifacts_dir(
        run.pop("artifacts_dir", None), f"{where}: run.artifacts_dir", path.parent
    )
    run_name = run.pop("name", path.stem)
    if not isinstance(run_name, str) or not run_name or "/" in run_name:
        raise ConfigError(f"{where}: run.name: expected a name without '/', got {run_name!r}")
    if run:
        raise ConfigError(
            f"{where}: run: unknown key(s) {sorted(run)}; known: "
            "['artifacts_dir', 'name', 'seed', 'simulator']"
        )
    name, params, source = _strategy(raw, where, path.parent)
    if (
        name != COMPONENTS
        and simulator == "vectorized"
        and not callable(getattr(source.cls, "scores", None))
    ):
        raise ConfigError(
            f"{where}: run.simulator: vectorized needs the strategy's scores(panel) for the whole "
            f"panel; {name!r} has none (use simulator: event_driven)"
        )
    sim_raw = _section(raw, "simulation", where)
    unknown = sorted(set(sim_raw) - set(SIMULATION_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: simulation: unknown key(s) {unknown}; known: {sorted(SIMULATION_KEYS)}"
        )
    _check_types(SimulationConfig, sim_raw, f"{where}: simulation")
    sim_raw.update(
        costs=_build(CostModel, raw.get("costs"), f"{where}: costs"),
        portfolio=_build(ConstructionConfig, raw.get("portfolio"), f"{where}: portfolio"),
        limits=_build(RiskLimits, raw.get("limits"), f"{where}: limits"),
        capital_policy=_policy(raw, where),
        seed=seed,
        execution=_execution(raw, simulator, where),
    )
    try:
        simulation = SimulationConfig(**sim_raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: simulation: {exc}") from exc
    if name == COMPONENTS and simulator == "vectorized":
        raise ConfigError(f"{where}: strategy.name components needs run.simulator: event_driven")
    weight_limits = replace(simulation.limits, drawdown_stop=None) != RiskLimits()
    if name == COMPONENTS and (weight_limits or simulation.capital_policy.needs_risk):
        raise ConfigError(
            f"{where}: limits other than drawdown_stop and capital_policy apply to weight "
            "strategies; strategy components caps its entries in strategy.entry"
        )
    if simulator == "vectorized" and (
        simulation.limits != RiskLimits() or simulation.capital_policy.needs_risk
    ):
        raise ConfigError(
            f"{where}: limits and capital_policy are enforced by simulator: event_driven only"
        )
    if name == COMPONENTS and simulation.execution is not None:
        raise ConfigError(
            f"{where}: exec: works the orders of weight strategies; strategy components fill "
            "their entries at the next open and their exits at their levels"
        )
    wf = _section(raw, "walk_forward", where)
    grid = wf.get("grid")
    if name == COMPONENTS and grid:
        raise ConfigError(f"{where}: walk_forward.grid: not available for strategy components")
    if grid is not None:
        if not isinstance(grid, dict):
            raise ConfigError(f"{where}: walk_forward.grid: expected a mapping, got {grid!r}")
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(
                    f"{where}: walk_forward.grid.{key}: expected a non-empty list of values, "
                    f"got {values!r}"
                )
    cfg = RunConfig(
        name=run_name,
        simulator=simulator,
        data=_data(raw, where, path.parent),
        strategy=name,
        params=params,
        simulation=simulation,
        artifacts_dir=artifacts,
        walk_forward=_build(WalkForwardConfig, wf or None, f"{where}: walk_forward"),
        source=source,
    )
    return cfg


def _component(raw: Any, table: dict[str, type], where: str, build: Any = None) -> Any:
    """One component from its name, or from ``{name: ..., **fields}`` (lists become tuples):
    its keys and their types checked here, then built by ``build`` (a registry builder, which
    takes ``{"kind": name, **fields}``) or by the class itself."""
    spec = {"name": raw} if isinstance(raw, str) else raw
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a name or a mapping with a name, got {raw!r}")
    fields_ = dict(spec)
    kind = fields_.pop("name", None)
    if kind not in table:
        raise ConfigError(f"{where}.name: expected one of {sorted(table)}, got {kind!r}")
    fields_ = {k: tuple(v) if isinstance(v, list) else v for k, v in fields_.items()}
    if build is None:
        return _build(table[kind], fields_, where)
    known = _public(table[kind])
    unknown = sorted(set(fields_) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {known}")
    _check_types(table[kind], fields_, where)
    try:
        return build({"kind": kind, **fields_})
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def component_strategy(spec: dict[str, Any], where: str = "strategy") -> ComponentStrategy:
    """The :class:`ComponentStrategy` of a ``strategy: {name: components, ...}`` section:
    ``signals`` (detectors, e.g. ``{name: sma_crossover, fast: 10, slow: 50}``), ``aggregate``
    (a voter, default majority), ``entry_filters`` (all must accept), ``sizer`` (required),
    ``entry`` (the entry rule's direction rules and caps), ``exits`` (``stop_loss``,
    ``take_profit``, ``trailing_stop``, ``max_bars``), ``exit_on_signal``,
    ``volatility_window`` and ``history``. Components are given by name (``majority``) or as
    a mapping with their name and fields (``{name: volatility_target, target_volatility:
    0.002}``)."""
    unknown = sorted(set(spec) - set(COMPONENT_KEYS) - {"name"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(COMPONENT_KEYS)}")
    signals = spec.get("signals")
    if not isinstance(signals, list) or not signals:
        raise ConfigError(f"{where}.signals: expected a non-empty list of detectors")
    detectors = tuple(
        _component(d, STRATEGIES, f"{where}.signals[{i}]") for i, d in enumerate(signals)
    )
    filters = spec.get("entry_filters") or []
    if not isinstance(filters, list):
        raise ConfigError(f"{where}.entry_filters: expected a list of filters, got {filters!r}")
    built = [
        _component(f, FILTERS, f"{where}.entry_filters[{i}]", build_filter)
        for i, f in enumerate(filters)
    ]
    if "sizer" not in spec:
        raise ConfigError(f"{where}.sizer: required (one of {sorted(SIZERS)})")
    entry = spec.get("entry") or {}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}.entry: expected a mapping, got {entry!r}")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ConfigError(f"{where}.entry: unknown key(s) {unknown}; known: {sorted(ENTRY_KEYS)}")
    _check_types(SignalEntryRule, entry, f"{where}.entry")
    options = {k: spec[k] for k in ("exit_on_signal", "volatility_window", "history") if k in spec}
    _check_types(ComponentStrategy, options, where)
    one_filter = built[0] if len(built) == 1 else AllOf(tuple(built)) if built else None
    exits = spec.get("exits")
    try:
        rule = SignalEntryRule(
            sizer=_component(spec["sizer"], SIZERS, f"{where}.sizer", build_sizer),
            entry_filter=one_filter,
            **entry,
        )
        return ComponentStrategy(
            signals=detectors,
            entry=rule,
            aggregate=_component(
                spec.get("aggregate", "majority"), VOTERS, f"{where}.aggregate", build_voter
            ),
            exits=_build(ExitRules, exits, f"{where}.exits") if exits is not None else None,
            **options,
        )
    except ValueError as exc:  # a ConfigError (a ValueError) already names its key
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from exc


def _strategy(raw: dict[str, Any], where: str, base: Path) -> tuple[str, dict, StrategySource]:
    """The ``strategy`` section: a built-in name, ``signals`` (a signal file's scores) or
    ``package.module:Class`` (imported from ``sys.path`` or the config's folder)."""
    strategy = _section(raw, "strategy", where)
    name = strategy.pop("name", None)
    if name == COMPONENTS:  # its keys sit beside the name
        component_strategy(strategy, f"{where}: strategy")
        return name, strategy, StrategySource(ComponentStrategy, ())
    if name == SIGNAL_FILE:
        unknown = sorted(set(strategy) - {"path", "score"})
        if unknown:
            raise ConfigError(
                f"{where}: strategy: unknown key(s) {unknown} for a signal file; known: "
                "['name', 'path', 'score']"
            )
        file, score = strategy.get("path"), strategy.get("score", "score")
        if not isinstance(file, str):
            raise ConfigError(f"{where}: strategy.path: expected a signal file path, got {file!r}")
        if not isinstance(score, str):
            raise ConfigError(f"{where}: strategy.score: expected a column name, got {score!r}")
        file = str((base / Path(file).expanduser()).resolve())
        try:
            table = read_score_table(file, score)
        except ValueError as exc:
            raise ConfigError(f"{where}: strategy.path: {exc}") from exc
        digest = describe_strategy(ScoreTable(table))
        options = {"path": file, "score": score, "rows": digest["rows"], "digest": digest["digest"]}
        return name, {}, StrategySource(ScoreTable, (), options, table)
    params = strategy.pop("params", None) or {}
    if strategy:
        raise ConfigError(
            f"{where}: strategy: unknown key(s) {sorted(strategy)}; known: ['name', 'params']"
        )
    if name in STRATEGIES:
        cls = STRATEGIES[name]
    elif isinstance(name, str) and ":" in name:
        try:
            cls = load_strategy_class(name, base)
        except ValueError as exc:
            raise ConfigError(f"{where}: strategy.name: {exc}") from exc
    else:
        raise ConfigError(
            f"{where}: strategy.name {name!r} is not one of {sorted(STRATEGIES)}, "
            f"{COMPONENTS!r}, {SIGNAL_FILE!r} (a signal file) or 'package.module:ClassName'"
        )
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: strategy.params: expected a mapping, got {params!r}")
    source = StrategySource(cls, tuple(_parameters(cls)))
    _check_strategy(source, params, f"{where}: strategy.params")
    return name, params, source


def _parameters(cls: type) -> list[str]:
    """The parameters a strategy class takes: its public dataclass fields or its arguments."""
    if is_dataclass(cls):
        return _public(cls)
    signature = inspect.signature(cls)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return sorted(p.name for p in signature.parameters.values() if p.kind in kinds)


def _check_strategy(source: StrategySource, params: dict[str, Any], where: str) -> None:
    """That ``params`` make a strategy of ``source`` (one :class:`ConfigError` otherwise)."""
    if source.table is not None:  # a signal file takes no parameters (_split rejects them)
        return
    if source.cls in STRATEGIES.values():
        _build(source.cls, params, where)
        return
    unknown = sorted(set(params) - set(source.parameters))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {list(source.parameters)}")
    try:
        source.build(params)
    except Exception as exc:  # the user's class rejected its parameters
        raise ConfigError(f"{where}: {type(exc).__name__}: {_one_line(exc)}") from exc


def _only_keys(data: dict[str, Any], key: str, source: str, where: str) -> None:
    """That the ``data`` section holds only ``key`` beside the source and the selection."""
    unknown = sorted(set(data) - {key})
    if unknown:
        raise ConfigError(
            f"{where}: data: unknown key(s) {unknown} for source {source}; known: "
            f"{sorted([key, 'source', *SELECTION])}"
        )


def load_bars(data: dict[str, Any]) -> pl.DataFrame:
    """The bars a config names, with its selection (``symbols``, ``start <= day < end``)."""
    try:
        if data["source"] == "directory":
            bars = load_bar_directory(data["directory"])
        elif data["source"] == "store":
            bars = _store_bars(data)
        else:  # the market is generated from its own start, the selection's if given
            known = {f.name for f in fields(SyntheticMarketConfig)}
            market = SyntheticMarketConfig(**{k: v for k, v in data.items() if k in known})
            bars = generate_market(market).bars
    except (ValueError, OSError) as exc:
        raise DataError(f"data: {_one_line(exc)}") from exc
    symbols = data.get("symbols")
    if symbols is not None:
        missing = sorted(set(symbols) - set(bars["symbol"].unique().to_list()))
        if missing:
            raise DataError(f"data.symbols: not in the data: {missing}")
        bars = bars.filter(pl.col("symbol").is_in(symbols))
    day = pl.col("timestamp").dt.date()
    if data.get("start") is not None:
        bars = bars.filter(day >= date.fromisoformat(data["start"]))
    if data.get("end") is not None:
        bars = bars.filter(day < date.fromisoformat(data["end"]))
    if bars.is_empty():
        raise DataError(f"data: no bars in the selection {_selection(data)}")
    return bars


def _store_bars(data: dict[str, Any]) -> pl.DataFrame:
    """The selection's days of the platform's bar store (``QUANT_HOME``'s ``raw_bars``)."""
    start, end = (date.fromisoformat(data[k]) if data.get(k) else None for k in ("start", "end"))
    store = BarStore(data["path"])
    if store.snapshot() is None:
        raise ValueError(
            f"no bar store at {data['path']} (materialize raw_bars, e.g. with quant demo)"
        )
    return store.read(start, end)


def _selection(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in SELECTION if k in data}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _split(
    params: dict[str, Any], source: StrategySource, where: str = "config"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Grid keys for the strategy and for the portfolio rules."""
    strategy_keys = set(source.parameters)
    portfolio_keys = set(_public(ConstructionConfig))
    unknown = sorted(set(params) - strategy_keys - portfolio_keys)
    if unknown:
        raise ConfigError(
            f"{where}: walk_forward.grid: unknown parameter(s) {unknown}; known: "
            f"{sorted(strategy_keys | portfolio_keys)}"
        )
    return (
        {k: v for k, v in params.items() if k in strategy_keys},
        {k: v for k, v in params.items() if k in portfolio_keys},
    )


def _candidates(grid: dict[str, list]) -> list[dict[str, Any]]:
    keys = sorted(grid)
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))
    ]


@dataclass(frozen=True)
class _Run:
    """One simulation: equity at each bar's fill point, turnover of the period from it, the
    fills in the one trade schema, the metrics, and (event-driven) the full result."""

    equity: np.ndarray
    turnover: np.ndarray
    trades: pl.DataFrame
    metrics: dict[str, Any]
    result: SimulationResult | None
    artifacts: Path | None


def simulate(
    cfg: RunConfig,
    bars: BarPanel,
    market: MarketPanel,
    params: dict[str, Any],
    artifacts_root: Path | None,
    progress: Any = None,
    cancel: Any = None,
) -> _Run:
    """Run the configured simulator over ``bars`` with ``params`` over the config's."""
    if cfg.strategy == COMPONENTS:
        sim, strategy = cfg.simulation, component_strategy(cfg.params)
    else:
        strategy_params, portfolio_params = _split({**cfg.params, **params}, cfg.source)
        portfolio = replace(cfg.simulation.portfolio, **portfolio_params)
        sim = replace(cfg.simulation, portfolio=portfolio)
        strategy = cfg.source.build(strategy_params)
    resolved = {**cfg.resolved(params), "simulation": asdict(sim)}
    if cfg.simulator == "event_driven":
        result = Simulator(
            sim,
            strategy,
            artifacts_root=artifacts_root,
            name=cfg.name,
            progress=progress,
            cancel=cancel,
            run_config=resolved,
        ).run(bars)
        return _Run(
            result.bars["equity_open"].to_numpy(),
            result.bars["turnover"].to_numpy(),
            result.trades,
            result.metrics,
            result,
            result.artifacts,
        )
    scores = strategy.scores(bars)
    try:
        backtest = run_panel_backtest(
            market,
            scores,
            sim,  # a BookConfig: the vectorized backtest reads only what the two share
        )
    except ValueError as exc:  # e.g. no day with a tradable signal
        raise DataError(f"data: {_one_line(exc)}") from exc
    daily = backtest.daily
    lead = len(bars) - daily.height  # bars before the first fill point, plus the fill itself
    equity = np.concatenate([np.full(lead, sim.capital), daily["equity"].to_numpy()])
    turnover = np.concatenate([np.zeros(lead - 1), daily["turnover"].to_numpy(), [0.0]])
    trades = trades_from_notional(
        backtest.trades,
        backtest.prices,
        backtest.trade_costs(),
        daily["timestamp"].to_list(),
        backtest.decided_at,
        bars.symbols,
    )
    metrics = run_metrics(
        daily["net_return"].to_numpy(), daily["turnover"].to_numpy(), sim.capital, trades, len(bars)
    )
    path = None
    if artifacts_root is not None:
        run = RunArtifacts(artifacts_root, resolved, sim.seed, cfg.name)
        run.log_trades(trade_lines(trades))
        scored = np.isfinite(scores).any(axis=1)  # decisions from the first score on
        decided = np.arange(int(np.argmax(scored)) if scored.any() else len(bars), len(bars))
        tables = {
            "signals": signal_table(
                pl.Series("timestamp", bars.timestamps).gather(decided),
                bars.symbols,
                scores[decided],
                np.isfinite(scores[decided]),
            ),
            "round_trips": round_trips(trades, bars.timestamps),
        }
        path = run.finish("completed", metrics, daily, trades, tables=tables)
    return _Run(equity, turnover, trades, metrics, None, path)


def _skip_numba_blas_probe() -> None:
    """Spare the run numba's BLAS probe: the import of ``scipy.linalg`` (0.3 s) on the first
    kernel load.

    numba's CPU target imports ``numba.np.arraymath`` when it loads its first kernel, cached or
    not, and that module imports ``scipy.linalg.cython_blas`` only to decide whether
    ``np.correlate`` and ``np.convolve`` may call BLAS (no kernel here uses either). Imported
    here with that module unavailable, it takes their plain loops instead. Every other BLAS or
    LAPACK use (``np.dot``, ``@``, ``np.linalg``) checks for scipy again when it is compiled and
    loads BLAS when it is called, as before. Nothing is done where scipy.linalg or the module
    is imported already.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg.cython_blas"] = None  # `import` raises ImportError
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:  # a numba release that needs the module: its kernel load imports it
        pass
    finally:
        del sys.modules["scipy.linalg.cython_blas"]


def _prepare(path: str | Path, out: str | Path | None) -> tuple[RunConfig, BarPanel, MarketPanel]:
    _skip_numba_blas_probe()
    cfg = load_run_config(path)
    if out is not None:
        cfg = replace(cfg, artifacts_dir=_artifacts_dir(str(out), "--out", Path.cwd()))
    frame = load_bars(cfg.data)
    if cfg.source.table is not None:
        try:
            table = align_scores(
                cfg.source.table, frame, cfg.source.options["path"], "symbols" in cfg.data
            )
        except ValueError as exc:
            raise DataError(f"strategy.path: {exc}") from exc
        cfg = replace(cfg, source=replace(cfg.source, table=table))
    try:
        return (
            cfg,
            BarPanel.from_bars(frame),
            MarketPanel.from_bars(frame, cfg.simulation.risk_window),
        )
    except (ValueError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"data: {_one_line(exc)}") from exc


def _profiled(profile: bool, work: Any) -> tuple[Any, cProfile.Profile | None]:
    if not profile:
        return work(), None
    profiler = cProfile.Profile()
    result = profiler.runcall(work)
    return result, profiler


def _writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"run.artifacts_dir: cannot create {directory}: {_one_line(exc)}"
        ) from exc


def run_from_config(
    path: str | Path, out: str | Path | None = None, profile: bool = False
) -> dict[str, Any]:
    """One run of a config; returns its summary (run folder, metrics)."""
    cfg, bars, market = _prepare(path, out)
    _writable(cfg.artifacts_dir)
    run, profiler = _profiled(profile, lambda: simulate(cfg, bars, market, {}, cfg.artifacts_dir))
    if profiler is not None:
        profiler.dump_stats(run.artifacts / "profile.pstats")
    return {
        "artifacts": str(run.artifacts),
        "simulator": cfg.simulator,
        "status": run.result.status if run.result is not None else "completed",
        "metrics": run.metrics,
    }


def walk_forward(
    path: str | Path, out: str | Path | None = None, profile: bool = False
) -> dict[str, Any]:
    """Walk-forward validation with per-fold parameter selection by training Sharpe."""
    cfg, bars, market = _prepare(path, out)
    wf = cfg.walk_forward
    if not wf.grid:
        raise ConfigError(
            f"{path}: walk_forward.grid is empty: name at least one parameter to choose"
        )
    candidates = _candidates(wf.grid)
    for combo in candidates:  # every combination must make a valid strategy and portfolio
        s_params, p_params = _split(combo, cfg.source, str(path))
        where = f"{path}: walk_forward.grid {combo}"
        _check_strategy(cfg.source, {**cfg.params, **s_params}, where)
        _check_types(ConstructionConfig, p_params, where)
        try:
            replace(cfg.simulation.portfolio, **p_params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    if len(bars) < wf.train_bars + wf.test_bars:
        raise DataError(
            f"walk_forward needs {wf.train_bars + wf.test_bars} bars (train_bars + test_bars), "
            f"the data has {len(bars)}"
        )
    _writable(cfg.artifacts_dir)

    def score(equity: np.ndarray) -> float:
        returns = equity[1:] / equity[:-1] - 1.0
        returns = returns[np.flatnonzero(returns)[0] :] if returns.any() else returns
        sharpe = performance_metrics(returns)["sharpe"] if returns.size > 1 else float("nan")
        return sharpe if np.isfinite(sharpe) else -np.inf

    def work() -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, list, list[pl.DataFrame]]:
        folds, oos_returns, oos_turnover, oos_stamps, oos_trades = [], [], [], [], []
        start = 0
        while start + wf.train_bars + wf.test_bars <= len(bars):
            train_end = start + wf.train_bars
            test_end = train_end + wf.test_bars
            sharpes = []
            for params in candidates:
                train = simulate(
                    cfg,
                    bars.window(start, train_end),
                    market.window(start, train_end),
                    params,
                    None,
                )
                sharpes.append(score(train.equity))
            best = candidates[int(np.argmax(sharpes))]
            run = simulate(
                cfg, bars.window(start, test_end), market.window(start, test_end), best, None
            )
            # the out-of-sample fills: those at the test fold's bars
            fold_trades = run.trades.filter(pl.col("timestamp") >= bars.timestamps[train_end])
            oos_trades.append(fold_trades.with_columns(pl.lit(len(folds)).alias("fold")))
            test = run.equity[wf.train_bars - 1 :]
            returns = test[1:] / test[:-1] - 1.0
            oos_returns.append(returns)
            oos_turnover.append(run.turnover[wf.train_bars - 1 : -1])
            oos_stamps.extend(bars.timestamps[train_end:test_end])
            folds.append(
                {
                    "train": [str(bars.timestamps[start]), str(bars.timestamps[train_end - 1])],
                    "test": [str(bars.timestamps[train_end]), str(bars.timestamps[test_end - 1])],
                    "params": best,
                    "train_sharpe": float(max(sharpes)),
                    "test_metrics": performance_metrics(
                        returns, run.turnover[wf.train_bars - 1 : -1]
                    ),
                }
            )
            start += wf.test_bars
        return (
            folds,
            np.concatenate(oos_returns),
            np.concatenate(oos_turnover),
            oos_stamps,
            oos_trades,
        )

    (folds, returns, turnover, stamps, trades), profiler = _profiled(profile, work)
    capital = cfg.simulation.capital
    artifacts = RunArtifacts(
        cfg.artifacts_dir, cfg.resolved(), cfg.simulation.seed, f"{cfg.name}-wfv"
    )
    equity = capital * np.cumprod(1.0 + returns)
    curve = pl.DataFrame(
        {
            "timestamp": stamps,
            "net_return": returns,
            "turnover": turnover,
            "equity": equity,
            "drawdown": drawdown(np.concatenate([[capital], equity]))[1:],
        }
    )
    table = pl.concat(trades) if trades else empty_trades()
    table = with_running_pnl(table)  # the running sum of exactly these out-of-sample rows
    metrics = run_metrics(returns, turnover, capital, table, len(stamps))
    write_strict_json(artifacts.path / "folds.json", folds)
    artifacts.log_trades(trade_lines(table))
    folder = artifacts.finish("completed", metrics, curve, table)
    if profiler is not None:
        profiler.dump_stats(folder / "profile.pstats")
    return {"artifacts": str(folder), "folds": folds, "metrics": metrics}
