"""Loopback stand-ins of ours for the vendor REST APIs the market-data sources use.

Each speaks only the subset of its API that our sources call, over a real socket, so that the
real client libraries (alpaca-py, ccxt, databento) run unchanged against it; each can inject
faults (429 with Retry-After, 5xx, auth errors) ahead of its normal answers.
"""
