"""User-space instructions per request of a server's worker, counted by callgrind: repeatable where timings on this
shared machine are not (the same binary, inputs and load give the same count whatever else the host does).

The server runs under `valgrind --tool=callgrind --trace-children=yes` with instrumentation off; after a first
request and a warm-up, instrumentation is switched on for `--seconds` of `wrk -t1 -c16`, then the counts are
dumped. The figure is the busiest process's instructions over the requests wrk made (kernel time is not counted:
compare servers that make the same system calls, such as two RSGI apps under Granian).

    .venv/bin/python benches/load/instructions.py --name hello -- \\
        .venv/bin/python -m granian --interface rsgi --workers 1 --runtime-threads 1 --loop uvloop \\
        --no-access-log --port {port} --working-dir python/fastgw/bench/peers hello:app
    .venv/bin/python benches/load/instructions.py --name fastgw-cache --path /pets/42 -- \\
        .venv/bin/fastgw serve api.yaml --port {port} --stage-variable backendPort={backend} \\
        --gateway-throttle 1e9:1000000000 --cache-ttl 3600

`{port}` is the server's port, `{backend}` the port of an nginx answering 200 with a small JSON body (started
here). Needs valgrind, wrk and nginx (Debian packages). Slow: the server runs about 50 times slower under valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def wrk(port: int, path: str, seconds: int) -> int:
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"the server answered errors:\n{out}")
    return int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="label of the callgrind files")
    parser.add_argument("--path", default="/", help="the request path (default /)")
    parser.add_argument("--seconds", type=int, default=15, help="seconds of counted load (default 15)")
    parser.add_argument("--keep", type=Path, help="copy the counted dump here (for callgrind_annotate)")
    parser.add_argument("command", nargs="+", help="the server's command line, with {port} and {backend}")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fastgw-instructions-"))
    backend_port, port = free_port(), free_port()
    (work / "nginx.conf").write_text(
        f"worker_processes 1; daemon off; pid {work}/nginx.pid; error_log {work}/error.log;\n"
        "events { worker_connections 1024; }\n"
        "http { access_log off; keepalive_requests 1000000;\n"
        f"  server {{ listen 127.0.0.1:{backend_port}; location / {{ default_type application/json;"
        ' return 200 \'{"id":1,"name":"rex","kind":"dog"}\'; } } }\n'
    )
    backend = subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)], start_new_session=True)
    command = [part.format(port=port, backend=backend_port) for part in args.command]
    out_file = work / f"callgrind.{args.name}.%p"
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--trace-children=yes", "--instr-atstart=no",
         f"--callgrind-out-file={out_file}", *command],
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not get(port, args.path, 5):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not answer")
            time.sleep(1)
        wrk(port, args.path, 3)  # warm-up, not counted
        subprocess.run(["callgrind_control", "-i", "on"], capture_output=True, check=True)
        time.sleep(1)
        requests = wrk(port, args.path, args.seconds)
        subprocess.run(["callgrind_control", "-d"], capture_output=True, check=True)
        subprocess.run(["callgrind_control", "-i", "off"], capture_output=True, check=True)
        counts = []
        for dump in work.glob(f"callgrind.{args.name}.*.1"):
            found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.MULTILINE)
            if found:
                counts.append((int(found.group(1)), dump))
        if not counts:
            raise SystemExit(f"no callgrind dump found in {work}")
        instructions, busiest = max(counts)
        if args.keep is not None:
            shutil.copy(busiest, args.keep)
        print(f"{args.name}: {instructions / requests:,.0f} instructions per request ({requests:,} requests)")
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        if server.returncode not in (0, -signal.SIGINT):
            print((work / "server.log").read_text(errors="replace")[-2000:], file=sys.stderr)
        os.killpg(backend.pid, signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
