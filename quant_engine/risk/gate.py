"""The risk gate: a Broker that checks every order against limits before passing it on.

It keeps a snapshot of positions, open orders and prices (refreshed whenever positions, open
orders or the account are read through it, and moved forward by each order it lets through), so
a check costs a few dictionary look-ups. Reading the account marks the book to market: a daily
loss or drawdown beyond its limit trips the kill switch, which is persisted and, like REDUCE-only
mode, lets through only orders that reduce an existing position. In shadow mode orders fill in a
persisted virtual book and nothing reaches the broker.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from quant_engine.brokers.base import (
    Account,
    Broker,
    BrokerError,
    DuplicateClientOrderId,
    MarketClock,
    Order,
    OrderRequest,
    OutcomeUnknown,
    Position,
)
from quant_engine.brokers.quotes import Quote
from quant_engine.risk import errors
from quant_engine.risk.config import RiskConfig
from quant_engine.risk.errors import RiskRejected
from quant_engine.risk.shadow import VirtualBook
from quant_engine.risk.state import RiskState

log = logging.getLogger(__name__)
_ZERO = Decimal(0)


class RiskGate:
    """Wraps ``broker`` with the limits of ``config`` (implements ``Broker``)."""

    def __init__(
        self,
        broker: Broker,
        config: RiskConfig,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.broker = broker
        self.config = config
        self.name = f"shadow:{broker.name}" if config.shadow_mode else broker.name
        self._now = now
        self._zone = ZoneInfo(config.timezone)
        self.state = RiskState.load(config.state_path, required=config.require_state)
        self._book: VirtualBook | None = None
        if config.shadow_mode and self.state.shadow is not None:
            self._book = VirtualBook.from_dict(self.state.shadow)
        self._quotes: dict[str, Quote] = {}
        self._held: dict[str, Decimal] | None = None  # signed positions
        self._marks: dict[str, Decimal] = {}  # price per symbol for exposure
        self._pending: dict[str, Decimal] = {}  # signed remaining of open orders
        self._effective: dict[str, Decimal] = {}  # held + pending
        self._gross = _ZERO
        self._n_positions = 0  # symbols with a non-zero effective position
        self._sent: deque[datetime] = deque()
        self._recent: dict[tuple[str, str, Decimal], tuple[datetime, str]] = {}
        # Orders whose outcome is unknown (a timeout, a 5xx, a duplicate id): they may be live,
        # so they count toward exposure until a look-up or the open orders show their fate.
        self._unresolved: dict[str, tuple[str, Decimal]] = {}  # client id -> symbol, signed
        self._open_ids: set[str] = set()
        self._previous_close: Decimal | None = None

    # --- kill switch ------------------------------------------------------------------------
    @property
    def kill_switch(self) -> bool:
        return self.state.kill_switch

    def trip_kill_switch(self, reason: str) -> None:
        """Trip the kill switch (persisted): from now on only reducing orders pass."""
        if self.state.trip(reason, self._now().isoformat()):
            self._save()
            log.error("kill switch tripped: %s", reason)

    def reset_kill_switch(self, reason: str) -> None:
        """Reset the kill switch by hand (``reason`` is kept in the state's events)."""
        self.state.reset(reason, self._now().isoformat())
        self._save()
        log.warning("kill switch reset: %s", reason)

    # --- prices -----------------------------------------------------------------------------
    def update_quotes(self, quotes: Mapping[str, Quote]) -> None:
        """Last prices (and their times) for the fat-finger, staleness and value checks."""
        self._quotes.update(quotes)
        for symbol, quote in quotes.items():
            self._set_mark(symbol, quote.price)

    # --- the Broker protocol ----------------------------------------------------------------
    def account(self) -> Account:
        """The account (virtual in shadow mode); marks the book to market for the loss limits."""
        if self.config.shadow_mode:
            account = self._shadow_book().account(self._prices())
        else:
            account = self.broker.account()
        self._previous_close = account.previous_close_equity
        self._mark_to_market(account.equity)
        return account

    def positions(self) -> dict[str, Position]:
        if self.config.shadow_mode:
            positions = self._shadow_book().position_map(self._prices())
        else:
            positions = self.broker.positions()
        self._held = {s: p.quantity for s, p in positions.items()}
        for symbol, position in positions.items():
            if symbol not in self._quotes:
                mark = position.market_price or position.average_price
                self._marks[symbol] = mark
        self._recompute()
        return positions

    def open_orders(self) -> list[Order]:
        orders = [] if self.config.shadow_mode else self.broker.open_orders()
        pending: dict[str, Decimal] = {}
        self._open_ids = {o.client_order_id for o in orders}
        for order in orders:
            signed = order.remaining if order.side == "buy" else -order.remaining
            pending[order.symbol] = pending.get(order.symbol, _ZERO) + signed
        self._pending = pending
        self._recompute()
        return orders

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        if self.config.shadow_mode:
            return self._shadow_book().orders.get(client_order_id)
        order = self.broker.order_by_client_id(client_order_id)
        # Its fate is known now: not placed (None), or placed and then in the broker's positions
        # and open orders, which the snapshot reads again.
        if self._unresolved.pop(client_order_id, None) is not None:
            self.positions()
            self.open_orders()
        return order

    def submit(self, request: OrderRequest) -> Order:
        """Check ``request`` (raising :class:`RiskRejected` with a reason), then send it."""
        if self._held is None:
            self.refresh()
        self.check(request)
        now = self._now()
        self._sent.append(now)
        self._recent[(request.symbol, request.side, request.quantity)] = (
            now,
            request.client_order_id,
        )
        signed = request.quantity if request.side == "buy" else -request.quantity
        if self.config.shadow_mode:
            book = self._shadow_book()
            if request.client_order_id in book.orders:
                raise DuplicateClientOrderId(
                    f"client order id {request.client_order_id} exists in the shadow book"
                )
            price = self._price(request.symbol)
            if price is None:
                raise RiskRejected(errors.NO_PRICE, f"no price to fill {request.symbol} in shadow")
            order = book.fill(request, price, now)
            self.state.shadow = book.to_dict()
            self._save()
        else:
            try:
                order = self.broker.submit(request)
            except (OutcomeUnknown, DuplicateClientOrderId):
                # It may have been placed: counted until its fate is known.
                self._unresolved[request.client_order_id] = (request.symbol, signed)
                self._add_exposure(request.symbol, signed)
                raise
            if order.status in ("rejected", "cancelled", "expired"):
                signed = order.filled_quantity if request.side == "buy" else -order.filled_quantity
        self._add_exposure(request.symbol, signed)
        return order

    def cancel(self, broker_order_id: str) -> None:
        """Cancelling only reduces risk: always passed on (nothing is open in shadow mode)."""
        if self.config.shadow_mode:
            raise BrokerError(f"no open shadow order {broker_order_id}: shadow orders fill at once")
        self.broker.cancel(broker_order_id)

    def clock(self) -> MarketClock:
        return self.broker.clock()

    # --- checks -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read positions, open orders and the account through the gate (marks to market)."""
        self.positions()
        self.open_orders()
        self.account()

    def check(self, request: OrderRequest) -> None:
        """Raise :class:`RiskRejected` where ``request`` breaks a limit; change nothing."""
        cfg = self.config
        symbol, side, quantity = request.symbol, request.side, request.quantity
        effective = self._effective.get(symbol, _ZERO)
        held = (self._held or {}).get(symbol, _ZERO)
        # What can be reduced: the position held, less what open orders already reduce (an open
        # order that adds to it does not make a larger sale "reducing").
        reducible = min(abs(held), abs(effective)) if held * effective > 0 else _ZERO
        reducing = held != 0 and (side == "sell") == (held > 0) and quantity <= reducible
        if self.state.kill_switch and not reducing:
            raise RiskRejected(
                errors.KILL_SWITCH,
                f"kill switch tripped ({self.state.kill_reason}); {side} {quantity} {symbol} "
                f"does not reduce the position {effective}",
            )
        if cfg.reduce_only and not reducing:
            raise RiskRejected(
                errors.REDUCE_ONLY,
                f"REDUCE-only mode: {side} {quantity} {symbol} does not reduce the position "
                f"{effective}",
            )
        now = self._now()
        self._prune(now)
        if cfg.max_orders_per_minute is not None and len(self._sent) >= cfg.max_orders_per_minute:
            raise RiskRejected(
                errors.RATE_LIMIT,
                f"{len(self._sent)} orders in the last minute, limit {cfg.max_orders_per_minute}",
            )
        seen = self._recent.get((symbol, side, quantity))
        if (
            seen is not None
            and seen[1] != request.client_order_id
            and (now - seen[0]).total_seconds() < cfg.dedup_window_seconds
        ):
            raise RiskRejected(
                errors.DUPLICATE_ORDER,
                f"{side} {quantity} {symbol} repeats order {seen[1]} within "
                f"{cfg.dedup_window_seconds}s",
            )
        quote = self._quotes.get(symbol)
        if cfg.max_price_deviation_pct is not None:
            self._check_price(request, quote)
        if reducing:
            return
        self._check_symbol_lists(symbol)
        if cfg.max_price_age_seconds is not None:
            if quote is None:
                raise RiskRejected(errors.STALE_PRICE, f"no quote for {symbol}")
            age = (now - quote.as_of).total_seconds()
            if age > cfg.max_price_age_seconds:
                raise RiskRejected(
                    errors.STALE_PRICE,
                    f"last price of {symbol} is {age:.0f}s old "
                    f"(limit {cfg.max_price_age_seconds}s)",
                )
        if cfg.max_order_quantity is not None and quantity > cfg.max_order_quantity:
            raise RiskRejected(
                errors.MAX_ORDER_QUANTITY,
                f"{side} {quantity} {symbol} exceeds the order quantity limit "
                f"{cfg.max_order_quantity}",
            )
        self._check_values(request, effective)

    def _check_price(self, request: OrderRequest, quote: Quote | None) -> None:
        """A limit price, or the price a market order was decided at, too far from the last
        quote (a fat finger, or a market that moved since the decision): refused."""
        limit = self.config.max_price_deviation_pct
        assert limit is not None
        if request.order_type == "limit":
            price, what = request.limit_price, "limit"
        else:
            price, what = request.reference_price, "decision price"
        if price is None:
            return
        if quote is None or quote.price <= 0:
            raise RiskRejected(
                errors.PRICE_DEVIATION, f"no last quote to check the price of {request.symbol}"
            )
        deviation = abs(price - quote.price) / quote.price
        if deviation > limit:
            raise RiskRejected(
                errors.PRICE_DEVIATION,
                f"{what} {price} for {request.symbol} is {deviation:.2%} from the last "
                f"price {quote.price} (limit {limit})",
            )

    def _prune(self, now: datetime) -> None:
        """Forget orders older than the rate and duplicate windows."""
        while self._sent and (now - self._sent[0]).total_seconds() >= 60:
            self._sent.popleft()
        window = self.config.dedup_window_seconds
        for key in [
            k for k, (at, _) in self._recent.items() if (now - at).total_seconds() >= window
        ]:
            del self._recent[key]

    def _check_symbol_lists(self, symbol: str) -> None:
        if symbol in self.config.blocked_symbols:
            raise RiskRejected(errors.BLOCKED_SYMBOL, f"{symbol} is on the block list")
        allowed = self.config.allowed_symbols
        if allowed is not None and symbol not in allowed:
            raise RiskRejected(errors.NOT_ALLOWED, f"{symbol} is not on the allow list")

    def _check_values(self, request: OrderRequest, effective: Decimal) -> None:
        cfg = self.config
        symbol = request.symbol
        needs_price = any(
            limit is not None
            for limit in (cfg.max_order_value, cfg.max_position_value, cfg.max_gross_exposure)
        )
        price = request.limit_price or self._price(symbol)
        if price is None:
            if needs_price:
                raise RiskRejected(errors.NO_PRICE, f"no price to value an order in {symbol}")
            price = _ZERO
        value = request.quantity * price
        if cfg.max_order_value is not None and value > cfg.max_order_value:
            raise RiskRejected(
                errors.MAX_ORDER_VALUE,
                f"{request.side} {request.quantity} {symbol} is worth {value:.2f}, over the "
                f"order value limit {cfg.max_order_value}",
            )
        signed = request.quantity if request.side == "buy" else -request.quantity
        after = effective + signed
        share_limit = cfg.position_quantity_limits.get(symbol, cfg.max_position_quantity)
        if share_limit is not None and abs(after) > share_limit:
            raise RiskRejected(
                errors.MAX_POSITION_QUANTITY,
                f"{symbol} would be {after} shares, over the position quantity limit {share_limit}",
            )
        mark = self._marks.get(symbol, price)
        if cfg.max_position_value is not None and abs(after) * mark > cfg.max_position_value:
            raise RiskRejected(
                errors.MAX_POSITION_VALUE,
                f"{symbol} would be worth {abs(after) * mark:.2f}, over the position limit "
                f"{cfg.max_position_value}",
            )
        gross = self._gross - abs(effective) * mark + abs(after) * mark
        if cfg.max_gross_exposure is not None and gross > cfg.max_gross_exposure:
            raise RiskRejected(
                errors.MAX_GROSS_EXPOSURE,
                f"gross exposure would be {gross:.2f}, over the limit {cfg.max_gross_exposure}",
            )
        if cfg.max_positions is not None and effective == 0:
            count = self._n_positions
            if count + 1 > cfg.max_positions:
                raise RiskRejected(
                    errors.MAX_POSITIONS,
                    f"opening {symbol} would make {count + 1} positions, limit {cfg.max_positions}",
                )

    # --- internals --------------------------------------------------------------------------
    def _mark_to_market(self, equity: Decimal) -> None:
        day = self._now().astimezone(self._zone).date().isoformat()
        state, cfg = self.state, self.config
        changed = False
        if state.trading_day != day:
            # The baseline is the previous close: the broker's figure, else the last equity seen
            # before today, so that a loss overnight counts (the first read of a day does not
            # reset it away).
            baseline = self._previous_close or (
                Decimal(state.last_equity) if state.last_equity is not None else equity
            )
            state.trading_day = day
            state.day_start_equity = str(baseline)
            changed = True
        if state.last_equity != str(equity):
            state.last_equity = str(equity)
            changed = True
        if state.high_water_mark is None or equity > Decimal(state.high_water_mark):
            state.high_water_mark = str(equity)
            changed = True
        if changed:
            self._save()
        loss = Decimal(state.day_start_equity or equity) - equity
        if cfg.max_daily_loss is not None and loss > cfg.max_daily_loss:
            self.trip_kill_switch(
                f"daily loss {loss:.2f} on {day} exceeds the limit {cfg.max_daily_loss}"
            )
        peak = Decimal(state.high_water_mark)
        if cfg.max_drawdown_pct is not None and peak > 0:
            drawdown = (peak - equity) / peak
            if drawdown > cfg.max_drawdown_pct:
                self.trip_kill_switch(
                    f"drawdown {drawdown:.2%} from {peak:.2f} exceeds the limit "
                    f"{cfg.max_drawdown_pct}"
                )

    def _shadow_book(self) -> VirtualBook:
        if self._book is None:
            if self.config.shadow_initial_cash is not None:
                self._book = VirtualBook(cash=self.config.shadow_initial_cash)
            else:
                self._book = VirtualBook.copy_of(self.broker.account(), self.broker.positions())
            self.state.shadow = self._book.to_dict()
            self._save()
        return self._book

    def _prices(self) -> dict[str, Decimal]:
        return {s: q.price for s, q in self._quotes.items()}

    def _price(self, symbol: str) -> Decimal | None:
        quote = self._quotes.get(symbol)
        return quote.price if quote is not None else self._marks.get(symbol)

    def _set_mark(self, symbol: str, price: Decimal) -> None:
        quantity = self._effective.get(symbol, _ZERO)
        old = self._marks.get(symbol, _ZERO)
        self._gross += abs(quantity) * (price - old)
        self._marks[symbol] = price

    def _recompute(self) -> None:
        held = self._held or {}
        pending = dict(self._pending)
        for coid, (symbol, signed) in self._unresolved.items():
            if coid not in self._open_ids:  # an open one is in the open orders already
                pending[symbol] = pending.get(symbol, _ZERO) + signed
        symbols = set(held) | set(pending)
        self._effective = {s: held.get(s, _ZERO) + pending.get(s, _ZERO) for s in symbols}
        self._gross = sum(
            (abs(q) * self._marks.get(s, _ZERO) for s, q in self._effective.items()), _ZERO
        )
        self._n_positions = sum(1 for q in self._effective.values() if q != 0)

    def _add_exposure(self, symbol: str, signed: Decimal) -> None:
        before = self._effective.get(symbol, _ZERO)
        after = before + signed
        self._effective[symbol] = after
        self._n_positions += (after != 0) - (before != 0)
        self._gross += (abs(after) - abs(before)) * self._marks.get(symbol, _ZERO)

    def _save(self) -> None:
        self.state.save(self.config.state_path)
