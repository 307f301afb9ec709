"""Data access: the connection pool, named SQL queries and typed repository functions."""

from __future__ import annotations
