"""Stock moto's own server, started the way the emulator is, for comparisons.

    python -m tests.support.stock_moto_server [PORT]

Prints the emulator's ready line (``emulator ready on http://127.0.0.1:PORT``) so that
``tests.support.emulator.EmulatorProcess`` (with ``CPE_TEST_SERVER=stock-moto``) and
``benchmarks/emulator_cycles.py --stock`` can wait on it; every emulator option is ignored.
"""

from __future__ import annotations

import logging
import socket
import sys
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    from moto.server import ThreadedMotoServer

    port = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 0
    port = port or free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    print(f"emulator ready on http://127.0.0.1:{port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
