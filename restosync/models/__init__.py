"""Pydantic wire and domain models."""

from __future__ import annotations
