"""Benches that drive the real h2j sync against the sandbox servers and measure it."""

from __future__ import annotations
