"""Talking to Zeek over its WebSocket API (Broker's JSON v1 data model)."""
