"""The backend (nginx answering `return 200` with a fixed JSON body) and the nginx config both nginx roles share."""

from __future__ import annotations

from pathlib import Path

from fastgw.bench.procs import HOST
from fastgw.bench.scenarios import BODY, LARGE_PATH

# Neither nginx role caps the requests per keep-alive connection (nginx's default closes after 1,000), so that no
# gateway pays for reconnects the others do not.
_KEEPALIVE_REQUESTS = 10_000_000


def nginx_config(workdir: Path, servers: str) -> str:
    """A complete nginx.conf: one worker, foreground, no access log, every path inside `workdir`."""
    return f"""\
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    keepalive_timeout 75s;
    keepalive_requests {_KEEPALIVE_REQUESTS};
    client_max_body_size 8m;
{servers}
}}
"""


def nginx_argv(nginx: Path, workdir: Path, conf: Path) -> list[str]:
    return [str(nginx), "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)]


def backend_config(workdir: Path, port: int, large_file: Path | None) -> str:
    """`return 200` with BODY everywhere; with `large_file`, LARGE_PATH answers it to any method once the whole
    request body is read (nginx reads it before proxying, here to its own server, which sends the file back),
    so that no gateway pays for a backend that answers early and leaves the body unread."""
    body = BODY.decode()
    assert "'" not in body and "\\" not in body, "the body is written inside an nginx single-quoted string"
    large = (
        f"""
        location = {LARGE_PATH} {{
            client_body_buffer_size 2m;
            proxy_pass http://self/large-file;
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffers 64 32k;
        }}
        location = /large-file {{
            default_type application/json;
            alias {large_file};
        }}"""
        if large_file is not None
        else ""
    )
    upstream = (
        f"""\
    upstream self {{
        server {HOST}:{port};
        keepalive 64;
    }}
"""
        if large_file is not None
        else ""
    )
    servers = f"""{upstream}\
    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}{large}
    }}"""
    return nginx_config(workdir, servers)


def proxy_config(workdir: Path, port: int, backend_port: int, pool: int, *, streaming: bool = False) -> str:
    """nginx as the proxy under test; `streaming` passes bodies through as they come (no buffering either way),
    as the other gateways do, instead of buffering them (to disk past a few pages)."""
    buffering = "off" if streaming else "on"
    directives = f"proxy_buffering {buffering};\n            proxy_request_buffering {buffering};"
    return nginx_config(workdir, _proxy_servers(port, backend_port, pool, directives))


def cache_config(workdir: Path, port: int, backend_port: int, pool: int) -> str:
    """nginx proxy_cache: responses kept 1 h, keyed by the URI; the cache directory lives in `workdir`."""
    cache = f"    proxy_cache_path {workdir}/cache levels=1:2 keys_zone=bench:10m max_size=100m inactive=1h;\n"
    directives = "proxy_cache bench;\n            proxy_cache_valid 200 1h;\n            proxy_cache_key $request_uri;"
    return nginx_config(workdir, cache + _proxy_servers(port, backend_port, pool, directives))


def _proxy_servers(port: int, backend_port: int, pool: int, directives: str) -> str:
    """The upstream pool and the server proxying every path to it, with `directives` in its location."""
    return f"""\
    upstream backend {{
        server {HOST}:{backend_port};
        keepalive {pool};
        keepalive_requests {_KEEPALIVE_REQUESTS};
        keepalive_timeout 75s;
    }}
    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            {directives}
        }}
    }}"""


def return_config(workdir: Path, port: int) -> str:
    """nginx answering BODY itself on every path, as the backend does (on its own port)."""
    return backend_config(workdir, port, large_file=None)
