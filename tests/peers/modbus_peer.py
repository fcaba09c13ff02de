#!/usr/bin/env python3
"""Independent Modbus peer for edgecite's integration tests.

Usage:  python modbus_peer.py SPEC.json

Transports:
  tcp         pymodbus (3.16) async TCP server on 127.0.0.1
  rtu         pymodbus (3.16) async serial RTU server on a socat pty pair
  faulty_tcp  hand-written asyncio Modbus/TCP server (FC 03 only) that
              misbehaves on every Nth answered request

stdout carries exactly one line, ``READY <transport> <address>``, once the
peer accepts requests.  Everything else (logs, socat chatter) goes to stderr.
See README.md next to this file for the spec and stats formats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

LOG = logging.getLogger("modbus_peer")

TABLES = ("coils", "discrete_inputs", "holding", "input")
BIT_TABLES = ("coils", "discrete_inputs")
# function code -> table it touches (for bounds checking)
FC_TABLE = {
    1: "coils", 5: "coils", 15: "coils",
    2: "discrete_inputs",
    3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding",
    4: "input",
}
FAULT_MODES = ("wrong_tid", "drop_mid_frame", "stale_then_right", "garbage")
STATS_PERIOD_S = 0.1


class SpecError(Exception):
    """Invalid spec file."""


# --------------------------------------------------------------------------
# spec
# --------------------------------------------------------------------------
def load_spec(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        spec = json.load(fh)
    if not isinstance(spec, dict):
        raise SpecError("spec must be a JSON object")
    transport = spec.get("transport")
    if transport not in ("tcp", "rtu", "rtu_over_tcp", "faulty_tcp"):
        raise SpecError(f"transport must be tcp, rtu, rtu_over_tcp or faulty_tcp, not {transport!r}")
    port = spec.get("port", 0)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise SpecError("port must be an int 0..65535")
    spec["port"] = port
    raw_units = spec.get("units")
    if not isinstance(raw_units, dict) or not raw_units:
        raise SpecError("units must be a non-empty object")
    units: dict[int, dict[str, Any]] = {}
    for key, unit in raw_units.items():
        try:
            uid = int(key)
        except ValueError as exc:
            raise SpecError(f"unit id {key!r} is not an integer") from exc
        if not 0 <= uid <= 255:
            raise SpecError(f"unit id {uid} out of range 0..255")
        if not isinstance(unit, dict):
            raise SpecError(f"unit {uid} must be an object")
        tables: dict[str, list[int]] = {}
        for name in TABLES:
            values = unit.get(name, [])
            if not isinstance(values, list):
                raise SpecError(f"unit {uid}: {name} must be a list")
            limit = 1 if name in BIT_TABLES else 0xFFFF
            for v in values:
                if isinstance(v, bool):
                    v = int(v)
                if not isinstance(v, int) or not 0 <= v <= limit:
                    raise SpecError(f"unit {uid}: {name} value {v!r} out of range 0..{limit}")
            if len(values) > 65536:
                raise SpecError(f"unit {uid}: {name} longer than 65536")
            tables[name] = [int(v) for v in values]
        units[uid] = {"silent": bool(unit.get("silent", False)), **tables}
    spec["units"] = units
    if transport == "rtu":
        spec.setdefault("baud", 19200)
        spec.setdefault("parity", "N")
        spec.setdefault("bytesize", 8)
        spec.setdefault("stopbits", 1)
        if spec["parity"] not in ("N", "E", "O"):
            raise SpecError("parity must be N, E or O")
    if transport == "faulty_tcp":
        fault = spec.get("fault") or {}
        mode = fault.get("mode", "none")
        if mode not in FAULT_MODES + ("none",):
            raise SpecError(f"fault.mode must be one of {FAULT_MODES} (or none)")
        every = fault.get("every", 1)
        if not isinstance(every, int) or every < 1:
            raise SpecError("fault.every must be an int >= 1")
        spec["fault"] = {
            "mode": mode,
            "every": every,
            "gap_ms": float(fault.get("gap_ms", 0)),
            "seed": fault.get("seed"),
        }
    return spec


# --------------------------------------------------------------------------
# stats
# --------------------------------------------------------------------------
class Stats:
    """Request counters per unit id and function code, dumped as JSON."""

    def __init__(self, path: str | None, with_faults: bool) -> None:
        self.path = path
        self.with_faults = with_faults
        self.lock = threading.Lock()
        self.counts: dict[int, dict[int, int]] = {}
        self.total = 0
        self.faults = 0
        # TCP connections (spec "count_connections": true): accepted in all, open at most.
        self.with_connections = False
        self.connections = 0
        self.open = 0
        self.max_open = 0

    def count(self, unit: int, fc: int) -> None:
        with self.lock:
            per_unit = self.counts.setdefault(unit, {})
            per_unit[fc] = per_unit.get(fc, 0) + 1
            self.total += 1

    def connection(self, connected: bool) -> None:
        with self.lock:
            if connected:
                self.connections += 1
                self.open += 1
                self.max_open = max(self.max_open, self.open)
            else:
                self.open -= 1

    def fault(self) -> None:
        with self.lock:
            self.faults += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {
                str(u): {str(fc): n for fc, n in sorted(fcs.items())}
                for u, fcs in sorted(self.counts.items())
            }
            out["total"] = self.total
            if self.with_faults:
                out["faults"] = self.faults
            if self.with_connections:
                out["connections"] = self.connections
                out["max_open_connections"] = self.max_open
        return out

    def write(self) -> None:
        if not self.path:
            return
        tmp = f"{self.path}.tmp.{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.snapshot(), fh, sort_keys=True)
            os.replace(tmp, self.path)  # atomic: readers never see half a file
        except OSError as exc:
            LOG.warning("cannot write stats to %s: %s", self.path, exc)

    async def writer_task(self) -> None:
        while True:
            self.write()
            await asyncio.sleep(STATS_PERIOD_S)


# --------------------------------------------------------------------------
# pymodbus based peer (tcp, rtu)
# --------------------------------------------------------------------------
class BoundedContext:
    """Wraps pymodbus' datastore and enforces the exact table lengths.

    pymodbus 3.16 stores coils/discrete inputs in 16-bit words, so a read
    past the last coil but inside the same word would succeed with padding
    zeros.  The spec wants exception 02 for anything past the table end.
    """

    def __init__(self, inner: Any, sizes: dict[int, dict[str, int]]) -> None:
        from pymodbus.constants import ExcCodes  # pylint: disable=import-outside-toplevel

        self.inner = inner
        self.sizes = sizes
        self.illegal_address = ExcCodes.ILLEGAL_ADDRESS

    def device_ids(self) -> list[int]:
        return self.inner.device_ids()

    def _check(self, device_id: int, func_code: int, address: int, count: int):
        table = FC_TABLE.get(func_code)
        if table is None:
            return None  # let pymodbus decide
        size = self.sizes.get(device_id, {}).get(table, 0)
        if count < 1 or address < 0 or address + count > size:
            return self.illegal_address
        return None

    async def async_getValues(self, device_id, func_code, address, count=1):  # noqa: N802
        if (exc := self._check(device_id, func_code, address, count)) is not None:
            return exc
        return await self.inner.async_getValues(device_id, func_code, address, count)

    async def async_setValues(self, device_id, func_code, address, values):  # noqa: N802
        if (exc := self._check(device_id, func_code, address, len(values))) is not None:
            return exc
        return await self.inner.async_setValues(device_id, func_code, address, values)


def build_devices(units: dict[int, dict[str, Any]]):
    """One pymodbus SimDevice per answering unit; tables start at address 0."""
    from pymodbus.simulator import DataType, SimData, SimDevice  # pylint: disable=import-outside-toplevel

    devices = []
    sizes: dict[int, dict[str, int]] = {}
    for uid, unit in sorted(units.items()):
        if unit["silent"]:
            continue
        blocks = []
        for name in TABLES:
            values = unit[name]
            # SimData needs a non-empty list; an empty table gets one dummy
            # cell that BoundedContext never lets anybody reach.
            if name in BIT_TABLES:
                data = SimData(0, values=[bool(v) for v in values] or [False],
                               datatype=DataType.BITS)
            else:
                data = SimData(0, values=list(values) or [0], datatype=DataType.REGISTERS)
            blocks.append([data])
        # tuple form = 4 separate tables; coils are bit addressed
        devices.append(SimDevice(uid, simdata=tuple(blocks)))  # type: ignore[arg-type]
        sizes[uid] = {name: len(unit[name]) for name in TABLES}
    return devices, sizes


def make_trace_pdu(units: dict[int, dict[str, Any]], stats: Stats):
    answering = {uid for uid, u in units.items() if not u["silent"]}

    def trace_pdu(sending: bool, pdu):
        if sending:
            return pdu
        stats.count(pdu.dev_id, pdu.function_code)
        if pdu.dev_id not in answering:
            # Returning None makes pymodbus' request handler drop the request:
            # no response, no exception -- a dead slave.
            LOG.debug("dropping request for unit %d fc %d", pdu.dev_id, pdu.function_code)
            return None
        return pdu

    return trace_pdu


class Socat:
    """socat pty pair: <dir>/server for the peer, <dir>/client for the test."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="modbus_peer_")
        self.server = os.path.join(self.dir, "server")
        self.client = os.path.join(self.dir, "client")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 5.0) -> None:
        socat = shutil.which("socat")
        if not socat:
            raise RuntimeError("socat not found (apt-get install -y socat)")
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [socat, "-d", "-d",
             f"pty,raw,echo=0,link={self.server}",
             f"pty,raw,echo=0,link={self.client}"],
            stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr,
            start_new_session=True,  # a Ctrl-C to our group must not kill it first
        )
        deadline = time.monotonic() + timeout
        while not (os.path.exists(self.server) and os.path.exists(self.client)):
            if self.proc.poll() is not None:
                raise RuntimeError(f"socat exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("socat did not create the pty links in time")
            time.sleep(0.01)

    async def watch(self, stop: asyncio.Event) -> None:
        """Stop the peer if socat dies: the bus is gone."""
        while not stop.is_set():
            if self.proc and self.proc.poll() is not None:
                LOG.error("socat exited with %s; stopping", self.proc.returncode)
                stop.set()
                return
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def pty_line_settings(path: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Line settings for the server pty.

    A pty has no UART: baud, parity etc. change nothing on the wire.  Recent
    Linux kernels even reject parity != N and bytesize != 8 on a pty with
    EINVAL, which would kill pymodbus' serial transport.  Try the requested
    settings and fall back to 8N<stopbits> (same baud) if the pty refuses.
    """
    import termios  # pylint: disable=import-outside-toplevel

    import serial  # pylint: disable=import-outside-toplevel

    def probe(settings: dict[str, Any]) -> None:
        # same calls as pymodbus' SerialTransport (open, then timeout = 0)
        port = serial.serial_for_url(path, exclusive=True, timeout=3, **settings)
        try:
            port.timeout = 0
        finally:
            port.close()

    wanted = {"baudrate": spec["baud"], "parity": spec["parity"],
              "bytesize": spec["bytesize"], "stopbits": spec["stopbits"]}
    try:
        probe(wanted)
        return wanted
    except (serial.SerialException, termios.error, ValueError, OSError) as exc:
        fallback = dict(wanted, parity="N", bytesize=8)
        LOG.warning("pty refuses %s (%s); serving with %s instead (a pty ignores line "
                    "settings anyway)", wanted, exc, fallback)
        probe(fallback)
        return fallback


async def run_pymodbus(spec: dict[str, Any], stats: Stats, ready, stop: asyncio.Event) -> None:
    from pymodbus import FramerType  # pylint: disable=import-outside-toplevel
    from pymodbus.server import ModbusSerialServer, ModbusTcpServer  # pylint: disable=import-outside-toplevel

    units = spec["units"]
    devices, sizes = build_devices(units)
    if not devices:
        # pymodbus needs at least one device; id 0 is never reachable because
        # trace_pdu drops every unit that is not an answering one.
        from pymodbus.simulator import DataType, SimData, SimDevice  # pylint: disable=import-outside-toplevel

        devices = [SimDevice(0, simdata=SimData(0, values=[0], datatype=DataType.REGISTERS))]
    trace_pdu = make_trace_pdu(units, stats)
    socat = None
    if spec["transport"] in ("tcp", "rtu_over_tcp"):
        # rtu_over_tcp: RTU frames (unit, PDU, CRC) on a TCP connection, as serial
        # device servers and DTUs carry them.
        framer = FramerType.RTU if spec["transport"] == "rtu_over_tcp" else FramerType.SOCKET
        stats.with_connections = bool(spec.get("count_connections"))
        server = ModbusTcpServer(devices, address=("127.0.0.1", spec["port"]),
                                 trace_pdu=trace_pdu, trace_connect=stats.connection, framer=framer)
    else:
        socat = Socat()
        socat.start()
        line = pty_line_settings(socat.server, spec)
        server = ModbusSerialServer(
            devices, framer=FramerType.RTU, port=socat.server, trace_pdu=trace_pdu, **line,
        )
    server.context = BoundedContext(server.context, sizes)
    try:
        await server.serve_forever(background=True)
        if spec["transport"] in ("tcp", "rtu_over_tcp"):
            host, port = server.transport.sockets[0].getsockname()[:2]
            ready(f"READY {spec['transport']} {host}:{port}")
        else:
            # the serial transport registers its reader via call_soon
            for _ in range(3):
                await asyncio.sleep(0)
            ready(f"READY rtu {socat.client}")
            asyncio.create_task(socat.watch(stop))
        await stop.wait()
    finally:
        await server.shutdown()
        if socat:
            socat.stop()


# --------------------------------------------------------------------------
# faulty_tcp: hand-written Modbus/TCP server, FC 03 only
# --------------------------------------------------------------------------
def mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid & 0xFFFF, 0, len(pdu) + 1, unit) + pdu


class FaultyServer:
    def __init__(self, spec: dict[str, Any], stats: Stats) -> None:
        self.units = spec["units"]
        self.stats = stats
        self.mode = spec["fault"]["mode"]
        self.every = spec["fault"]["every"]
        self.gap = spec["fault"]["gap_ms"] / 1000.0
        seed = spec["fault"]["seed"]
        self.rng = random.Random(seed) if seed is not None else None
        self.answered = 0  # answered requests, all connections
        self.writers: set[asyncio.StreamWriter] = set()

    def answer(self, unit: int, pdu: bytes) -> bytes:
        fc = pdu[0]
        if fc != 3:
            return bytes([(fc | 0x80) & 0xFF, 0x01])
        if len(pdu) != 5:
            return bytes([0x83, 0x03])
        address, count = struct.unpack(">HH", pdu[1:5])
        if not 1 <= count <= 125:
            return bytes([0x83, 0x03])
        holding = self.units[unit]["holding"]
        if address + count > len(holding):
            return bytes([0x83, 0x02])
        regs = holding[address:address + count]
        return bytes([3, 2 * count]) + struct.pack(f">{count}H", *regs)

    def garbage(self) -> bytes:
        return self.rng.randbytes(7) if self.rng else os.urandom(7)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        prev_frame: bytes | None = None  # last correct response on this connection
        try:
            while True:
                header = await reader.readexactly(7)
                tid, pid, length, unit = struct.unpack(">HHHB", header)
                if pid != 0 or not 2 <= length <= 254:
                    LOG.warning("faulty_tcp: bad MBAP %s, closing", header.hex())
                    return
                pdu = await reader.readexactly(length - 1)
                self.stats.count(unit, pdu[0])
                u = self.units.get(unit)
                if u is None or u["silent"]:
                    continue
                frame = mbap(tid, unit, self.answer(unit, pdu))
                self.answered += 1
                faulty = self.mode != "none" and self.answered % self.every == 0
                if not faulty:
                    writer.write(frame)
                    await writer.drain()
                    prev_frame = frame
                    continue
                self.stats.fault()
                LOG.info("faulty_tcp: request #%d tid=%d -> %s", self.answered, tid, self.mode)
                if self.mode == "wrong_tid":
                    writer.write(mbap(tid ^ 0x8000, unit, frame[7:]))
                    await writer.drain()
                    prev_frame = frame
                elif self.mode == "drop_mid_frame":
                    writer.write(frame[:5])
                    await writer.drain()
                    return
                elif self.mode == "garbage":
                    writer.write(self.garbage())
                    await writer.drain()
                    return
                elif self.mode == "stale_then_right":
                    stale = prev_frame if prev_frame is not None else mbap(tid - 1, unit, frame[7:])
                    if self.gap > 0:
                        writer.write(stale)
                        await writer.drain()
                        await asyncio.sleep(self.gap)
                        writer.write(frame)
                    else:
                        writer.write(stale + frame)
                    await writer.drain()
                    prev_frame = frame
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass


async def run_faulty(spec: dict[str, Any], stats: Stats, ready, stop: asyncio.Event) -> None:
    peer = FaultyServer(spec, stats)
    server = await asyncio.start_server(peer.handle, "127.0.0.1", spec["port"])
    host, port = server.sockets[0].getsockname()[:2]
    ready(f"READY faulty_tcp {host}:{port}")
    try:
        await stop.wait()
    finally:
        server.close()
        for w in list(peer.writers):
            w.close()
        await server.wait_closed()


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------
async def amain(spec: dict[str, Any], ready_fd: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if spec.get("exit_on_stdin_eof"):
        def watch_stdin() -> None:
            try:  # raw fd: a daemon thread blocked in sys.stdin would abort exit
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            loop.call_soon_threadsafe(stop.set)
        threading.Thread(target=watch_stdin, daemon=True).start()
    if spec.get("max_lifetime_s"):
        loop.call_later(float(spec["max_lifetime_s"]), stop.set)

    stats = Stats(spec.get("stats"), with_faults=spec["transport"] == "faulty_tcp")
    stats.write()
    writer = asyncio.create_task(stats.writer_task())

    def ready(line: str) -> None:
        stats.write()
        LOG.info("%s", line)
        os.write(ready_fd, (line + "\n").encode())

    try:
        if spec["transport"] == "faulty_tcp":
            await run_faulty(spec, stats, ready, stop)
        else:
            await run_pymodbus(spec, stats, ready, stop)
    finally:
        writer.cancel()
        stats.write()
        LOG.info("stopped; stats %s", json.dumps(stats.snapshot(), sort_keys=True))


def main(argv: list[str]) -> int:
    # Keep the real stdout for the READY line only; anything else that writes
    # to fd 1 (print, libraries, children) ends up on stderr.
    ready_fd = os.dup(1)
    os.dup2(2, 1)
    level = os.environ.get("MODBUS_PEER_LOG", "INFO").upper()
    logging.basicConfig(stream=sys.stderr, level=level,
                        format="%(asctime)s modbus_peer %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(
        os.environ.get("MODBUS_PEER_PYMODBUS_LOG", "WARNING").upper())
    if len(argv) != 2:
        LOG.error("usage: modbus_peer.py SPEC.json")
        return 2
    try:
        spec = load_spec(argv[1])
    except (OSError, ValueError, SpecError) as exc:
        LOG.error("bad spec %s: %s", argv[1], exc)
        return 2
    try:
        asyncio.run(amain(spec, ready_fd))
    except Exception:  # pylint: disable=broad-except
        LOG.exception("peer failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
