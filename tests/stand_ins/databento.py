"""Databento's historical API (``POST /v0/timeseries.get_range``), answering in real DBN.

Bars and trades are kept per schema and symbol; a request gets a zstd-compressed DBN stream
written with ``databento_dbn`` (metadata, then records), with the symbols it cannot resolve in
the metadata's ``not_found`` and the others mapped to instrument ids.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import databento_dbn as dbn
import zstandard

from tests.stand_ins.server import Request, Response, StandIn

SCALE = 1_000_000_000
MAX_SYMBOLS = 2_000
RTYPES = {
    "ohlcv-1m": dbn.RType.OHLCV_1M,
    "ohlcv-1h": dbn.RType.OHLCV_1H,
    "ohlcv-1d": dbn.RType.OHLCV_1D,
}
PUBLISHER = 2  # XNAS.ITCH.XNAS


@dataclass(frozen=True)
class Bar:
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True)
class Trade:
    ts_event: datetime
    ts_recv: datetime
    price: float
    size: int
    side: str  # "A", "B" or "N"


def nanos(when: datetime) -> int:
    return int(when.timestamp()) * SCALE + when.microsecond * 1_000


def _parse(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _error(status: int, case: str, message: str) -> Response:
    return Response.json({"detail": {"case": case, "message": message, "docs": None}}, status)


class DatabentoStandIn(StandIn):
    """Serves ``bars[schema][symbol]`` and ``trades[symbol]`` for one dataset and key."""

    def __init__(self, certificate: tuple[Path, Path], api_key: str, dataset: str) -> None:
        super().__init__(certificate)
        self.api_key, self.dataset = api_key, dataset
        self.bars: dict[str, dict[str, list[Bar]]] = {schema: {} for schema in RTYPES}
        self.trades: dict[str, list[Trade]] = {}
        self._ids: dict[str, int] = {}

    def instrument_id(self, symbol: str) -> int:
        return self._ids.setdefault(symbol, 1000 + len(self._ids))

    def range_requests(self) -> list[dict[str, str]]:
        """The forms of the ``get_range`` requests received so far."""
        return [r.form() for r in self.requests if r.path.endswith("timeseries.get_range")]

    def answer(self, request: Request) -> Response:
        if request.path != "/v0/timeseries.get_range" or request.method != "POST":
            return _error(404, "not_found", f"no route {request.method} {request.path}")
        expected = "Basic " + base64.b64encode(f"{self.api_key}:".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _error(401, "auth_authentication_failed", "Authentication failed.")
        form = request.form()
        if form.get("dataset") != self.dataset:
            return _error(422, "dataset_invalid", f"Unknown dataset '{form.get('dataset')}'.")
        schema = form["schema"]
        if schema not in RTYPES and schema != "trades":
            return _error(422, "schema_unsupported", f"The stand-in does not serve '{schema}'.")
        known = self.trades if schema == "trades" else self.bars[schema]
        asked = sorted(known) if form["symbols"] == "ALL_SYMBOLS" else form["symbols"].split(",")
        if len(asked) > MAX_SYMBOLS:
            return _error(422, "symbols_too_many", f"At most {MAX_SYMBOLS} symbols per request.")
        start, end = _parse(form["start"]), _parse(form["end"])
        payload = self._encode(schema, asked, known, start, end)
        if form.get("compression") == "zstd":
            payload = zstandard.ZstdCompressor().compress(payload)
        return Response(200, payload, {"Content-Type": "application/octet-stream"})

    def _encode(
        self, schema: str, asked: list[str], known: dict, start: datetime, end: datetime
    ) -> bytes:
        resolved = [s for s in asked if s in known]
        first_day, end = start.astimezone(UTC).date(), end.astimezone(UTC)
        last_day = end.date() if end.time() == datetime.min.time() else end.date() + timedelta(1)
        mappings = [
            SimpleNamespace(
                raw_symbol=symbol,
                intervals=[
                    SimpleNamespace(
                        start_date=first_day,
                        end_date=last_day,
                        symbol=str(self.instrument_id(symbol)),
                    )
                ],
            )
            for symbol in resolved
        ]
        metadata = dbn.Metadata(
            dataset=self.dataset,
            start=nanos(start),
            end=nanos(end),
            stype_in=dbn.SType.RAW_SYMBOL,
            stype_out=dbn.SType.INSTRUMENT_ID,
            schema=dbn.Schema.from_str(schema),
            symbols=asked,
            not_found=[s for s in asked if s not in known],
            mappings=mappings,
        )
        records: list[tuple[int, bytes]] = []
        for symbol in resolved:
            iid = self.instrument_id(symbol)
            for item in known[symbol]:
                when = item.ts_recv if schema == "trades" else item.ts
                if start <= when < end:
                    records.append((nanos(when), bytes(self._record(schema, iid, item))))
        records.sort(key=lambda pair: pair[0])  # merged and sorted by time, as the API does
        return metadata.encode() + b"".join(r for _, r in records)

    @staticmethod
    def _record(schema: str, iid: int, item: Bar | Trade) -> object:
        if isinstance(item, Trade):
            return dbn.TradeMsg(
                PUBLISHER,
                iid,
                nanos(item.ts_event),
                round(item.price * SCALE),
                item.size,
                dbn.Action.TRADE,
                dbn.Side(item.side),
                0,
                nanos(item.ts_recv),
            )
        prices = (round(p * SCALE) for p in (item.open, item.high, item.low, item.close))
        return dbn.OHLCVMsg(RTYPES[schema], PUBLISHER, iid, nanos(item.ts), *prices, item.volume)


def daily(day: date, close: float, volume: int = 1_000) -> Bar:
    """A plausible daily bar stamped at midnight UTC, as Databento stamps ``ohlcv-1d``."""
    stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Bar(stamp, close * 0.99, close * 1.01, close * 0.98, close, volume)
