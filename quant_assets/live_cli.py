"""``quant live status|halt|resume|init|retry|flatten [--account NAME]``: operator controls."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``quant live`` and its actions."""
    live = commands.add_parser("live", help="inspect, halt, resume or flatten a live account")
    actions = live.add_subparsers(dest="action", required=True)
    for action, help_text in (
        ("status", "kill switch state and history, today's orders"),
        ("halt", "trip the kill switch (only reducing orders pass)"),
        ("resume", "reset the kill switch"),
        ("init", "start a fresh risk state where it is missing"),
        ("retry", "release the day's rejected intents for the next rebalance"),
        ("flatten", "close every position through the gate, reduce-only"),
    ):
        parser = actions.add_parser(action, help=help_text)
        parser.add_argument("--account", help="account name (needed with several accounts)")
        if action != "status":
            parser.add_argument("--reason", required=True, help="why (kept in the history)")
            parser.add_argument("--by", help="who (default: the login name)")
        if action == "retry":
            parser.add_argument("--day", required=True, type=date.fromisoformat)


def run(args: argparse.Namespace) -> int:
    """Carry out ``quant live <action>``; 0 on success, 1 where the act failed."""
    from quant_assets import live_control  # brokers and resources: only for this command

    try:
        if args.action == "status":
            print(json.dumps(live_control.status(args.account), indent=2, default=str))
            return 0
        if args.action == "flatten":
            result = live_control.flatten(args.account, args.reason, args.by)
            print(json.dumps(result, indent=2, default=str))
            failed = result["rejected"] or result["unresolved"] or result["queued_market_closed"]
            return 1 if failed else 0
        if args.action == "retry":
            print(live_control.retry(args.account, args.day, args.reason, args.by))
            return 0
        act = {"halt": live_control.halt, "resume": live_control.resume, "init": live_control.init}
        print(act[args.action](args.account, args.reason, args.by))
        return 0
    except Exception as error:  # one line for the operator, no traceback
        print(f"quant live {args.action}: {error}", file=sys.stderr)
        return 1
