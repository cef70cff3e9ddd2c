"""Order management: the journal, the planner, the executor and reconciliation."""

from quant_engine.oms.alerts import Alerter, LogAlerter, RecordingAlerter, WebhookAlerter
from quant_engine.oms.executor import ExecutorConfig, RebalanceExecutor, RebalanceReport, Targets
from quant_engine.oms.ids import client_order_id
from quant_engine.oms.journal import JournalEntry, OrderIntent, OrderJournal
from quant_engine.oms.planner import Plan, PlannedOrder, plan_rebalance
from quant_engine.oms.reconcile import Reconciliation, reconcile
from quant_engine.oms.targets import target_quantities

__all__ = [
    "Alerter",
    "ExecutorConfig",
    "JournalEntry",
    "LogAlerter",
    "OrderIntent",
    "OrderJournal",
    "Plan",
    "PlannedOrder",
    "RebalanceExecutor",
    "RebalanceReport",
    "Reconciliation",
    "RecordingAlerter",
    "Targets",
    "WebhookAlerter",
    "client_order_id",
    "plan_rebalance",
    "reconcile",
    "target_quantities",
]
