"""Property-based fuzzing of every operation in the OpenAPI schema: whatever the input, no 5xx.

Runs with a valid owner key of a tenant of its own, so generated requests get past authentication and
exercise validation, handlers and the workflow engine behind them, and whatever valid changes they make
(budgets, connectors, agents, disabled tools) stay with that tenant instead of reaching the tenants other
tests share. Schemathesis generates the cases from the live schema.

Generating a case costs about as much as the gateway takes to answer one, so the cases go to the gateway from
one sending thread while the next ones are generated: one request at a time, in the order generated, as before.
"""

from __future__ import annotations

import importlib
import pkgutil
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform

EXAMPLES_PER_OPERATION = 30


def _import_whole_package(package: object) -> None:
    """Import every module of a package now, while collection runs on the only thread.

    Schemathesis registers a pytest plugin, so pytest rewrites each of its modules as it is first imported, and
    schemathesis imports most of them lazily, inside calls. On Python 3.11 the AST builder keeps its recursion
    counter per interpreter: a module parsed while another parse runs (another thread, or a finaliser that
    imports) fails with `SystemError: AST constructor recursion depth mismatch`. Importing the whole package
    during collection leaves nothing to parse once the test's threads run.
    """
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):  # type: ignore[attr-defined]
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as missing:  # an optional extra's dependency, such as a report format
            if missing.name == module.name:
                raise


_import_whole_package(schemathesis)


def test_no_input_causes_a_server_error(platform: Platform) -> None:
    raw = httpx.get(f"{platform.base_url}/openapi.json", timeout=60).json()  # built on first request
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.base_url = platform.base_url
    _tenant_id, api_key = create_test_tenant(platform.settings, "Fuzzed", plan="enterprise")
    headers = {"Authorization": f"Bearer {api_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    failures: list[str] = []
    sent: list[Future[None]] = []

    def send(case: schemathesis.Case) -> None:
        response = case.call(headers=headers, timeout=15)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")

    with ThreadPoolExecutor(max_workers=1) as sender:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                if case.path.endswith("/events"):
                    # A valid request opens an endless stream; a bad cursor makes it answer at once.
                    case.headers = {**(case.headers or {}), "Last-Event-ID": "not-a-cursor"}
                sent.append(sender.submit(send, case))

            run()
    # A request that got no answer at all (a timeout, a dropped connection) fails the test as it did inline.
    for future in sent:
        future.result()
    assert len(sent) >= len(operations)
    assert not failures, "\n".join(failures[:20])
