"""The web console: server-rendered pages for tenants and operators, served by the gateway under `/console`.

Pages call the same service functions and permission checks as the `/v1` routes, with the principal of a
browser session (`api.session_auth`). See docs/console.md.
"""

from console.app import install_console

__all__ = ["install_console"]
