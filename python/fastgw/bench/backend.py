"""The backend (nginx answering `return 200` with a fixed JSON body) and the nginx config both nginx roles share."""

from __future__ import annotations

from pathlib import Path

from fastgw.bench.procs import HOST
from fastgw.bench.scenarios import BODY

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
{servers}
}}
"""


def nginx_argv(nginx: Path, workdir: Path, conf: Path) -> list[str]:
    return [str(nginx), "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)]


def backend_config(workdir: Path, port: int) -> str:
    body = BODY.decode()
    assert "'" not in body and "\\" not in body, "the body is written inside an nginx single-quoted string"
    servers = f"""\
    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}"""
    return nginx_config(workdir, servers)


def proxy_config(workdir: Path, port: int, backend_port: int, pool: int) -> str:
    servers = f"""\
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
        }}
    }}"""
    return nginx_config(workdir, servers)
