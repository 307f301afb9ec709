"""Agent enrolment, heartbeats and the admin view of agents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from restosync.models.base import WireModel, examples

ErpType = Literal["ebp", "sage", "odoo", "custom"]
AgentHealth = Literal["online", "degraded", "offline", "deregistered"]
VendorId = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
AgentUrl = Annotated[str, StringConstraints(min_length=8, max_length=2048)]
AgentVersion = Annotated[str, StringConstraints(max_length=50)]
# SPEC §5.1: at least 16 characters. bcrypt reads at most 72 bytes; longer tokens are
# pre-hashed (see services/agent_auth.py), so the upper bound is only a sanity limit.
AgentToken = Annotated[str, StringConstraints(min_length=16, max_length=512)]


class RegisterAgent(WireModel):
    """Enrol a new agent, or update one (URL change, token rotation)."""

    model_config = examples(
        {
            "vendorId": "vendor-1",
            "agentUrl": "https://erp-gw.vendor-1.example/agent",
            "erpType": "sage",
            "authToken": "a-long-random-agent-token-0123456789",
            "version": "1.4.2",
        }
    )

    vendor_id: VendorId
    agent_url: AgentUrl = Field(description="Base URL restosync calls (http or https).")
    erp_type: ErpType
    auth_token: AgentToken = Field(
        description="The token the agent will present as Bearer from now on (≥ 16 chars)."
    )
    version: AgentVersion | None = None


class AgentRegistered(WireModel):
    """The agent as registered, with its new outbound secret (shown only here)."""

    vendor_id: str
    agent_url: str
    erp_type: ErpType
    status: AgentHealth
    version: str | None
    created: bool = Field(description="True when this registration enrolled a new vendor.")
    outbound_secret: str = Field(
        description="Secret restosync presents as Bearer and signs its calls to this agent "
        "with (HMAC-SHA256). Replaced on every registration."
    )


class Heartbeat(WireModel):
    """An agent's periodic sign of life."""

    model_config = examples({"vendorId": "vendor-1", "version": "1.4.2"})

    vendor_id: VendorId
    version: AgentVersion | None = None


class HeartbeatAck(WireModel):
    """Acknowledgement of a heartbeat."""

    vendor_id: str
    status: AgentHealth
    server_time: datetime


class AgentView(WireModel):
    """An agent as admins see it: live health, never a token hash or secret."""

    vendor_id: str
    agent_url: str
    erp_type: ErpType
    status: AgentHealth = Field(description="Live health derived from last_heartbeat now.")
    persisted_status: AgentHealth = Field(description="Status last written by the health task.")
    last_heartbeat: datetime
    seconds_since_heartbeat: float
    version: str | None
    created_at: datetime
    updated_at: datetime
    deregistered_at: datetime | None


class UpdateAgent(WireModel):
    """Admin change of an agent's configuration; absent fields are left as they are."""

    model_config = examples({"agentUrl": "https://erp-gw2.vendor-1.example/agent"})

    agent_url: AgentUrl | None = None
    erp_type: ErpType | None = None


class AgentFilter(WireModel):
    """Filters of the admin agent list."""

    status: AgentHealth | None = None
