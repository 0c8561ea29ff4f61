# Tasks of the platform. `pip install -e '.[dev]'` first (or run ./.ci/run once).

set shell := ["bash", "-euo", "pipefail", "-c"]

python := if path_exists(".venv/bin/python") == "true" { ".venv/bin/python" } else { "python3" }

# Start the embedded stack (Temporal, Postgres, Redis), the worker and the gateway.
up *args:
    {{python}} -m app.cli up {{args}}

# Install the optional local model (llama.cpp compiles once, a few minutes). Portable CPU flags: a
# build tuned to the compiling machine can die with SIGILL on another.
install-local:
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" {{python}} -m pip install --no-cache-dir -e '.[local]'

# Run the test suite on a real stack started by the tests themselves.
test *args:
    {{python}} -m pytest {{args}}

# Lint, format check and type check.
lint:
    {{python}} -m ruff check .
    {{python}} -m ruff format --check .
    {{python}} -m mypy

# Turn latency against a bare Temporal baseline in the same run.
bench turns="200" concurrency="8":
    {{python}} -m benchmarks.turn_latency --turns {{turns}} --concurrency {{concurrency}}

# Authentication cost per request: API key cached/uncached, JWT HS256/RS256.
bench-auth:
    {{python}} -m benchmarks.auth_overhead

# Payload encryption cost per payload against a no-op codec.
bench-codec:
    {{python}} -m benchmarks.codec_overhead

# Admission decision latency (rate limit, quotas, lease) and throughput against a bare Redis PING.
bench-admission iterations="3000":
    {{python}} -m benchmarks.admission --iterations {{iterations}}

# Tool runtime cost per call (checks, breaker, bulkhead, events, step row) against a bare no-op activity.
bench-tools calls="300":
    {{python}} -m benchmarks.tool_overhead --calls {{calls}}

# Saga completion and compensation times against five bare activities; prints the fault-injection cases.
bench-sagas orders="50" failures="20":
    {{python}} -m benchmarks.saga_times --orders {{orders}} --failures {{failures}}

# Noisy neighbour: tenant B's latency while tenant A floods the queue, without and with fairness keys.
bench-fairness jobs="10" ratio="50":
    {{python}} -m benchmarks.noisy_neighbour --jobs {{jobs}} --ratio {{ratio}}

# Re-record workflow histories from real runs, then replay them.
replay:
    {{python}} -m tests.record_histories
    {{python}} -m tests.workflows.tenant_lifecycle.record_histories
    {{python}} -m tests.commerce.sagas.record_histories
    {{python}} -m pytest tests/workflows/test_replay.py -q
