"""fastgw: a self-hosted, AWS API Gateway-compatible API gateway on a Rust core."""

from fastgw._core import __version__

__all__ = ["__version__"]
