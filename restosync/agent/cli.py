"""`restosync agent …`: enrol the reference agent, rotate its token, heartbeat, push."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO, get_args

import aiohttp
from pydantic import ValidationError

from restosync import __version__
from restosync.agent.catalog import Catalog
from restosync.agent.client import AgentApiError, AgentClient, TransientError, describe_failure
from restosync.agent.credentials import AgentCredentials, CredentialsError
from restosync.agent.push import CatalogPusher, PushFailed, PushSummary
from restosync.logconfig import configure_logging
from restosync.models.agents import ErpType

ENROLMENT_SECRET_ENV = "RESTOSYNC_ENROLMENT_SECRET"  # noqa: S105 - a variable name
URL_ENV = "RESTOSYNC_URL"
CREDENTIALS_ENV = "RESTOSYNC_AGENT_CREDENTIALS"
DEFAULT_CREDENTIALS = "restosync-agent.json"
REQUEST_TIMEOUT_SECONDS = 30.0
FAILURES_SHOWN = 20

Command = Callable[[AgentClient, argparse.Namespace], Awaitable[int]]


def add_agent_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `agent` and its sub-commands to the `restosync` command's sub-parsers."""
    agent = subparsers.add_parser(
        "agent",
        help="run the reference agent: enrol, rotate its token, heartbeat, push",
        description="The reference agent's side of the API. Its token and outbound secret "
        f"live in a credentials file (mode 0600; --credentials, env {CREDENTIALS_ENV}).",
    )
    commands = agent.add_subparsers(title="agent commands", required=True, metavar="COMMAND")

    enrol = _command(
        commands,
        "enrol",
        "register a new agent with the enrolment secret",
        f"Enrol a vendor's agent: the enrolment secret (restosync's AGENT_SECRET) is read "
        f"from env {ENROLMENT_SECRET_ENV}, never from the command line. A new token is "
        "generated and saved with the outbound secret in the credentials file, which must "
        "not exist yet.",
        _enrol,
    )
    enrol.add_argument("--vendor-id", required=True, help="the vendor this agent serves")
    enrol.add_argument(
        "--agent-url", required=True, help="base URL where restosync reaches this agent"
    )
    enrol.add_argument(
        "--erp-type", required=True, choices=get_args(ErpType), help="the vendor's ERP"
    )

    _command(
        commands,
        "rotate",
        "replace the agent's token",
        "Re-register with the current token and a new one; the file is updated once "
        "restosync accepted. Also finishes a rotation whose answer was lost.",
        _rotate,
    )
    update_url = _command(
        commands,
        "update-url",
        "change the URL where restosync reaches the agent",
        "Re-register at a new agent URL with the current token (the token stays).",
        _update_url,
    )
    update_url.add_argument("--agent-url", required=True, help="the new base URL")
    _command(commands, "heartbeat", "send one heartbeat", "Send one heartbeat.", _heartbeat)
    run = _command(
        commands,
        "run",
        "send heartbeats until stopped",
        "Send a heartbeat every --interval seconds until SIGINT or SIGTERM, backing off on "
        "rate limits (honouring Retry-After) and on server or network errors.",
        _run_heartbeats,
    )
    run.add_argument(
        "--interval",
        type=_positive_seconds,
        default=30.0,
        help="seconds between heartbeats (default: %(default)s)",
    )
    _add_push_command(commands)


def _add_push_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    push = _command(
        commands,
        "push",
        "push a generated simulated catalog",
        "Generate the simulated ERP's catalog (--items items with stock in each of "
        "--warehouses warehouses) and push warehouses, items, then stock: incrementally "
        "(at most 500 rows and 5 MB per request) or, with --snapshot, as full snapshots "
        "(batch pages of at most 5000 rows and 10 MB). Rate limits and server or network "
        "errors are retried with backoff. Exit status 1 if restosync refused any row.",
        _push,
    )
    push.add_argument("--items", type=_count, default=1000, help="items (default: %(default)s)")
    push.add_argument(
        "--warehouses", type=_count, default=3, help="warehouses (default: %(default)s)"
    )
    push.add_argument("--seed", type=int, default=0, help="catalog generator seed")
    push.add_argument("--snapshot", action="store_true", help="push full snapshots")
    push.add_argument(
        "--dry-run", action="store_true", help="ask restosync to validate without writing"
    )


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    description: str,
    action: Command,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text, description=description)
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV),
        required=URL_ENV not in os.environ,
        help=f"base URL of restosync, e.g. http://127.0.0.1:8080 (env {URL_ENV})",
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        default=Path(os.environ.get(CREDENTIALS_ENV, DEFAULT_CREDENTIALS)),
        help=f"the agent's credentials file (default: %(default)s; env {CREDENTIALS_ENV})",
    )
    parser.set_defaults(run=lambda args: _main(action, args))
    return parser


def _main(action: Command, args: argparse.Namespace) -> int:
    """Run one agent command; API and network failures become a message and exit status 1."""
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), secrets=_known_secrets(args))
    try:
        return asyncio.run(_with_client(action, args))
    except AgentApiError as exc:
        print(f"restosync agent: restosync refused: {exc}", file=sys.stderr)
    except PushFailed as exc:
        print(f"restosync agent: push stopped: {exc}", file=sys.stderr)
        _print_summary(exc.summary, file=sys.stderr)
    except TransientError as exc:
        print(f"restosync agent: cannot reach {args.url}: {describe_failure(exc)}", file=sys.stderr)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        print(f"restosync agent: invalid value ({problems})", file=sys.stderr)
        return 2
    return 1


async def _with_client(action: Command, args: argparse.Namespace) -> int:
    vendor_id = (
        getattr(args, "vendor_id", None) or AgentCredentials.load(args.credentials).vendor_id
    )
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = AgentClient(session, args.url, vendor_id, args.credentials, version=__version__)
        return await action(client, args)


async def _enrol(client: AgentClient, args: argparse.Namespace) -> int:
    secret = os.environ.get(ENROLMENT_SECRET_ENV)
    if not secret:
        raise CredentialsError(f"Set {ENROLMENT_SECRET_ENV} to the enrolment secret.")
    registered = await client.enrol(secret, args.agent_url, args.erp_type)
    print(f"enrolled vendor {registered.vendor_id}; credentials saved to {args.credentials}")
    return 0


async def _rotate(client: AgentClient, args: argparse.Namespace) -> int:
    await client.rotate_token()
    print(f"token rotated for vendor {client.vendor_id}; saved to {args.credentials}")
    return 0


async def _update_url(client: AgentClient, args: argparse.Namespace) -> int:
    registered = await client.update_url(args.agent_url)
    print(f"vendor {client.vendor_id} now reached at {registered.agent_url}")
    return 0


async def _heartbeat(client: AgentClient, args: argparse.Namespace) -> int:
    ack = await client.heartbeat()
    print(f"vendor {ack.vendor_id}: {ack.status} at {ack.server_time.isoformat()}")
    return 0


async def _run_heartbeats(client: AgentClient, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        beats = await client.run_heartbeats(args.interval, stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    print(f"stopped after {beats} heartbeat(s)")
    return 0


async def _push(client: AgentClient, args: argparse.Namespace) -> int:
    catalog = Catalog.generate(args.items, args.warehouses, seed=args.seed)
    pusher = CatalogPusher(client, dry_run=args.dry_run)
    if args.snapshot:
        summary = await pusher.push_snapshot(catalog)
    else:
        summary = await pusher.push_catalog(catalog)
    _print_summary(summary)
    return 1 if summary.failed else 0


def _print_summary(summary: PushSummary, file: TextIO | None = None) -> None:
    file = file or sys.stdout  # looked up at call time: it may have been replaced since
    print(
        f"{summary.requests} request(s), {summary.retries} retried: {summary.processed} "
        f"processed, {summary.skipped} skipped, {summary.failed} failed",
        file=file,
    )
    shown = summary.failures[:FAILURES_SHOWN]
    for failure in shown:
        errors = f" ({'; '.join(failure.errors)})" if failure.errors else ""
        print(f"  {failure.entity} {failure.identifier}: {failure.reason}{errors}", file=file)
    if len(summary.failures) > len(shown):
        print(f"  … and {len(summary.failures) - len(shown)} more", file=file)


def _known_secrets(args: argparse.Namespace) -> tuple[str, ...]:
    """Values the log filter masks wherever they appear."""
    found = [os.environ.get(ENROLMENT_SECRET_ENV, "")]
    try:
        stored = AgentCredentials.load(args.credentials)
    except CredentialsError:
        return tuple(found)
    return (*found, stored.token, stored.outbound_secret, stored.pending_token or "")


def _count(value: str) -> int:
    count = int(value)
    if count < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return count


def _positive_seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return seconds
