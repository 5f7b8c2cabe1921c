"""fastgw: a self-hosted, AWS API Gateway-compatible API gateway on a Rust core, served by Granian.

Embed it::

    import fastgw

    gateway = fastgw.Gateway.from_file("api.yaml", stage_variables={"backend": "127.0.0.1:9000"})
    gateway.serve(port=8080)          # or: app = gateway.app()  (an RSGI application)
"""

from fastgw._core import __version__
from fastgw.config.gateway_file import GatewayConfig, Limits, Listener, Tls
from fastgw.errors import DefinitionError, FastgwError, Place, Problem
from fastgw.gateway import Gateway
from fastgw.integrations.python import HandlerRequest, HandlerResponse

__all__ = [
    "DefinitionError",
    "FastgwError",
    "Gateway",
    "GatewayConfig",
    "HandlerRequest",
    "HandlerResponse",
    "Limits",
    "Listener",
    "Place",
    "Problem",
    "Tls",
    "__version__",
]
