#!/usr/bin/env python3
"""Self-check for modbus_peer.py.

Starts the peer for every transport with a small spec and checks it with
pymodbus' own client, with a raw socket (faulty_tcp) and with Debian's mbpoll.

    /work/main/.venv/bin/python tests/peers/selfcheck.py [-v]

Ends with a line "N passed, N failed"; exit code 0 only if nothing failed.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "modbus_peer.py")
PYTHON = sys.executable
MBPOLL = shutil.which("mbpoll") or "/usr/bin/mbpoll"
VERBOSE = "-v" in sys.argv

UNITS = {
    "1": {"coils": [1, 0, 1], "discrete_inputs": [0, 1], "holding": [1, 2, 3], "input": [4, 5]},
    "2": {"coils": [0, 1], "discrete_inputs": [1], "holding": [200, 201, 202, 203], "input": [7]},
    "3": {"silent": True},
}

PASSED = 0
FAILED = 0
STARTUP: dict[str, list[float]] = {}


def check(name: str, cond: bool, detail: Any = "") -> bool:
    global PASSED, FAILED  # pylint: disable=global-statement
    if cond:
        PASSED += 1
        if VERBOSE:
            print(f"  ok   {name}")
    else:
        FAILED += 1
        print(f"  FAIL {name}: {detail}")
    return cond


class Peer:
    """modbus_peer.py child process."""

    def __init__(self, spec: dict[str, Any], tmp: str, name: str) -> None:
        self.tmp = tmp
        self.name = name
        self.stats_path = os.path.join(tmp, f"{name}.stats.json")
        spec = dict(spec, stats=self.stats_path)
        self.spec_path = os.path.join(tmp, f"{name}.spec.json")
        with open(self.spec_path, "w", encoding="utf-8") as fh:
            json.dump(spec, fh)
        self.err_path = os.path.join(tmp, f"{name}.stderr.log")
        self.err = open(self.err_path, "wb")  # pylint: disable=consider-using-with
        t0 = time.monotonic()
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [PYTHON, PEER, self.spec_path], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self.err)
        self.ready = self._read_line(10.0)
        self.startup = time.monotonic() - t0
        STARTUP.setdefault(spec["transport"], []).append(self.startup)
        parts = self.ready.split()
        if len(parts) != 3 or parts[0] != "READY" or parts[1] != spec["transport"]:
            self.stop()
            raise RuntimeError(f"bad READY line {self.ready!r}; stderr:\n{self.stderr()}")
        self.address = parts[2]
        if spec["transport"] != "rtu":
            self.host, port = self.address.rsplit(":", 1)
            self.port = int(port)

    def _read_line(self, timeout: float) -> str:
        buf = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                break
            chunk = os.read(fd, 1)
            if not chunk:
                break
            buf += chunk
        return buf.decode(errors="replace").strip()

    def stderr(self) -> str:
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def stats(self, settle: float = 0.35) -> dict[str, Any]:
        time.sleep(settle)  # written every 100 ms
        with open(self.stats_path, encoding="utf-8") as fh:
            return json.load(fh)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.proc.stdout.read()
        self.proc.stdout.close()
        self.err.close()
        check(f"{self.name}: nothing on stdout after READY", rest == b"", rest)
        return self.proc.returncode


def expect_counts(stats: dict[str, Any], expected: dict[int, dict[int, int]], name: str,
                  faults: int | None = None) -> None:
    want: dict[str, Any] = {str(u): {str(fc): n for fc, n in fcs.items()}
                            for u, fcs in expected.items()}
    want["total"] = sum(n for fcs in expected.values() for n in fcs.values())
    if faults is not None:
        want["faults"] = faults
    check(f"{name}: stats file counts", stats == want, f"got {stats} want {want}")


class Counter:
    def __init__(self) -> None:
        self.c: dict[int, dict[int, int]] = {}

    def add(self, unit: int, fc: int, n: int = 1) -> None:
        self.c.setdefault(unit, {})
        self.c[unit][fc] = self.c[unit].get(fc, 0) + n


# --------------------------------------------------------------------------
# pymodbus client checks (tcp + rtu)
# --------------------------------------------------------------------------
def pymodbus_checks(client, name: str, cnt: Counter) -> None:
    from pymodbus.exceptions import ModbusException  # pylint: disable=import-outside-toplevel

    def call(unit: int, fc: int, fn: Callable, *args, **kw):
        cnt.add(unit, fc)
        try:
            return fn(*args, device_id=unit, **kw)
        except ModbusException as exc:
            return exc

    def ok_regs(label, rr, want):
        check(f"{name}: {label}", not isinstance(rr, Exception) and not rr.isError()
              and rr.registers == want, rr if isinstance(rr, Exception) else getattr(rr, "registers", rr))

    def ok_bits(label, rr, want):
        check(f"{name}: {label}", not isinstance(rr, Exception) and not rr.isError()
              and rr.bits[:len(want)] == want, rr if isinstance(rr, Exception) else getattr(rr, "bits", rr))

    def exc02(label, rr):
        check(f"{name}: {label} -> exception 02", not isinstance(rr, Exception) and rr.isError()
              and getattr(rr, "exception_code", None) == 2, rr)

    def silent(label, rr):
        check(f"{name}: {label} -> no answer", isinstance(rr, Exception), rr)

    t, f = True, False
    # reads at the right addresses, address 0 included
    ok_regs("holding[0..3]", call(1, 3, client.read_holding_registers, 0, count=3), [1, 2, 3])
    ok_regs("holding[0]", call(1, 3, client.read_holding_registers, 0, count=1), [1])
    ok_regs("holding[2]", call(1, 3, client.read_holding_registers, 2, count=1), [3])
    ok_regs("input[0..2]", call(1, 4, client.read_input_registers, 0, count=2), [4, 5])
    ok_bits("coils[0..3]", call(1, 1, client.read_coils, 0, count=3), [t, f, t])
    ok_bits("coil[2]", call(1, 1, client.read_coils, 2, count=1), [t])
    ok_bits("discrete[0..2]", call(1, 2, client.read_discrete_inputs, 0, count=2), [f, t])
    ok_regs("unit 2 holding[0..4]", call(2, 3, client.read_holding_registers, 0, count=4),
            [200, 201, 202, 203])
    ok_regs("unit 2 input[0]", call(2, 4, client.read_input_registers, 0, count=1), [7])
    # out of range -> 02
    exc02("holding[1..4]", call(1, 3, client.read_holding_registers, 1, count=3))
    exc02("holding[3]", call(1, 3, client.read_holding_registers, 3, count=1))
    exc02("input[2]", call(1, 4, client.read_input_registers, 2, count=1))
    exc02("coils[0..4] (inside pymodbus' 16-bit padding)", call(1, 1, client.read_coils, 0, count=4))
    exc02("coil[3]", call(1, 1, client.read_coils, 3, count=1))
    exc02("discrete[2]", call(1, 2, client.read_discrete_inputs, 2, count=1))
    exc02("unit 2 holding[4]", call(2, 3, client.read_holding_registers, 4, count=1))
    # writes stick
    rr = call(1, 6, client.write_register, 1, 777)
    check(f"{name}: FC06 answered", not isinstance(rr, Exception) and not rr.isError(), rr)
    ok_regs("FC06 visible", call(1, 3, client.read_holding_registers, 0, count=3), [1, 777, 3])
    rr = call(1, 16, client.write_registers, 0, [10, 11, 12])
    check(f"{name}: FC16 answered", not isinstance(rr, Exception) and not rr.isError(), rr)
    ok_regs("FC16 visible", call(1, 3, client.read_holding_registers, 0, count=3), [10, 11, 12])
    rr = call(1, 6, client.write_register, 0, 0)
    ok_regs("FC06 value 0 visible", call(1, 3, client.read_holding_registers, 0, count=1), [0])
    rr = call(1, 5, client.write_coil, 1, True)
    check(f"{name}: FC05 answered", not isinstance(rr, Exception) and not rr.isError(), rr)
    ok_bits("FC05 visible", call(1, 1, client.read_coils, 0, count=3), [t, t, t])
    rr = call(1, 15, client.write_coils, 0, [False, False, True])
    check(f"{name}: FC15 answered", not isinstance(rr, Exception) and not rr.isError(), rr)
    ok_bits("FC15 visible", call(1, 1, client.read_coils, 0, count=3), [f, f, t])
    rr = call(1, 5, client.write_coil, 2, False)
    ok_bits("FC05 False visible", call(1, 1, client.read_coils, 0, count=3), [f, f, f])
    exc02("FC06 holding[3]", call(1, 6, client.write_register, 3, 1))
    exc02("FC16 holding[2..4]", call(1, 16, client.write_registers, 2, [1, 2]))
    exc02("FC05 coil[3]", call(1, 5, client.write_coil, 3, True))
    exc02("FC15 coils[2..4]", call(1, 15, client.write_coils, 2, [True, True]))
    ok_regs("unit 2 untouched by unit 1 writes",
            call(2, 3, client.read_holding_registers, 0, count=2), [200, 201])
    # silent and unknown units: no answer at all
    t0 = time.monotonic()
    silent("silent unit 3 holding", call(3, 3, client.read_holding_registers, 0, count=1))
    check(f"{name}: silent unit waited for the timeout", time.monotonic() - t0 >= 0.4,
          time.monotonic() - t0)
    silent("silent unit 3 coils", call(3, 1, client.read_coils, 0, count=1))
    silent("unknown unit 9", call(9, 3, client.read_holding_registers, 0, count=1))
    # the bus/connection is still fine afterwards
    ok_regs("unit 1 after silent ones", call(1, 3, client.read_holding_registers, 0, count=3),
            [0, 11, 12])
    ok_regs("unit 2 after silent ones", call(2, 3, client.read_holding_registers, 2, count=2),
            [202, 203])


def mbpoll(args: list[str], timeout: float = 10.0) -> tuple[int, str]:
    proc = subprocess.run([MBPOLL, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


def mbpoll_values(out: str) -> list[int]:
    vals = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("[") and "]:" in line:
            vals.append(int(line.split("]:", 1)[1].split()[0]))
    return vals


def mbpoll_checks(name: str, base: list[str], target: list[str], cnt: Counter) -> None:
    # holding registers, address 0, unit 1 (after pymodbus_checks wrote 0, 11, 12)
    rc, out = mbpoll([*base, "-a", "1", "-r", "0", "-c", "3", "-t", "4", *target])
    cnt.add(1, 3)
    check(f"{name}: mbpoll reads holding[0..3]", rc == 0 and mbpoll_values(out) == [0, 11, 12], out)
    rc, out = mbpoll([*base, "-a", "2", "-r", "1", "-c", "3", "-t", "4", *target])
    cnt.add(2, 3)
    check(f"{name}: mbpoll reads unit 2 holding[1..4]",
          rc == 0 and mbpoll_values(out) == [201, 202, 203], out)
    rc, out = mbpoll([*base, "-a", "1", "-r", "0", "-c", "2", "-t", "3", *target])
    cnt.add(1, 4)
    check(f"{name}: mbpoll reads input[0..2]", rc == 0 and mbpoll_values(out) == [4, 5], out)
    rc, out = mbpoll([*base, "-a", "1", "-r", "0", "-c", "2", "-t", "1", *target])
    cnt.add(1, 2)
    check(f"{name}: mbpoll reads discrete[0..2]", rc == 0 and mbpoll_values(out) == [0, 1], out)
    rc, out = mbpoll([*base, "-a", "1", "-r", "2", "-c", "2", "-t", "4", *target])
    cnt.add(1, 3)
    check(f"{name}: mbpoll out of range -> illegal data address",
          "Illegal data address" in out, out)
    rc, out = mbpoll([*base, "-a", "1", "-r", "2", "-t", "4", *target, "4242"])
    cnt.add(1, 6)
    rc2, out2 = mbpoll([*base, "-a", "1", "-r", "2", "-c", "1", "-t", "4", *target])
    cnt.add(1, 3)
    check(f"{name}: mbpoll write sticks", rc == 0 and rc2 == 0 and mbpoll_values(out2) == [4242],
          out + out2)
    rc, out = mbpoll([*base, "-o", "0.5", "-a", "3", "-r", "0", "-c", "1", "-t", "4", *target])
    cnt.add(3, 3)
    check(f"{name}: mbpoll silent unit times out", "timed out" in out, out)


def run_tcp(tmp: str) -> None:
    from pymodbus.client import ModbusTcpClient  # pylint: disable=import-outside-toplevel

    name = "tcp"
    peer = Peer({"transport": "tcp", "port": 0, "units": UNITS}, tmp, name)
    try:
        check(f"{name}: READY format", peer.host == "127.0.0.1" and peer.port > 0, peer.ready)
        check(f"{name}: stats file exists at READY", os.path.exists(peer.stats_path))
        cnt = Counter()
        client = ModbusTcpClient(peer.host, port=peer.port, timeout=0.5, retries=0)
        check(f"{name}: pymodbus client connects", client.connect())
        pymodbus_checks(client, name, cnt)
        client.close()
        mbpoll_checks(name, ["-m", "tcp", "-0", "-1", "-p", str(peer.port)], [peer.host], cnt)
        expect_counts(peer.stats(), cnt.c, name)
        idle = socket.create_connection((peer.host, peer.port))  # open while stopping
    finally:
        rc = peer.stop(signal.SIGTERM)
    idle.close()
    check(f"{name}: exits 0 on SIGTERM", rc == 0, rc)
    with open(peer.stats_path, encoding="utf-8") as fh:
        final = json.load(fh)
    expect_counts(final, cnt.c, f"{name} (after SIGTERM)")


def run_rtu(tmp: str) -> None:
    from pymodbus.client import ModbusSerialClient  # pylint: disable=import-outside-toplevel

    name = "rtu"
    peer = Peer({"transport": "rtu", "baud": 19200, "parity": "N", "bytesize": 8,
                 "stopbits": 1, "units": UNITS}, tmp, name)
    pty_dir = os.path.dirname(peer.address)
    try:
        check(f"{name}: client pty exists", os.path.exists(peer.address), peer.address)
        cnt = Counter()
        client = ModbusSerialClient(peer.address, baudrate=19200, parity="N", bytesize=8,
                                    stopbits=1, timeout=0.5, retries=0)
        check(f"{name}: pymodbus serial client opens pty", client.connect())
        pymodbus_checks(client, name, cnt)
        client.close()
        mbpoll_checks(name, ["-m", "rtu", "-b", "19200", "-P", "none", "-d", "8", "-s", "1",
                             "-0", "-1"], [peer.address], cnt)
        expect_counts(peer.stats(), cnt.c, name)
        idle = os.open(peer.address, os.O_RDWR | os.O_NOCTTY)  # open while stopping
    finally:
        rc = peer.stop(signal.SIGINT)
    os.close(idle)
    check(f"{name}: exits 0 on SIGINT", rc == 0, rc)
    check(f"{name}: pty dir removed (socat gone)", not os.path.exists(pty_dir), pty_dir)
    with open(peer.stats_path, encoding="utf-8") as fh:
        expect_counts(json.load(fh), cnt.c, f"{name} (after SIGINT)")


def run_rtu_even_parity(tmp: str) -> None:
    """A pty ignores line settings; a kernel that rejects parity E on a pty
    must not stop the peer (it falls back to 8N<stopbits> and warns)."""
    from pymodbus.client import ModbusSerialClient  # pylint: disable=import-outside-toplevel

    name = "rtu-9600-E-2"
    peer = Peer({"transport": "rtu", "baud": 9600, "parity": "E", "bytesize": 8,
                 "stopbits": 2, "units": {"5": {"holding": [55]}}}, tmp, name)
    try:
        # the client side pty may refuse parity E the same way: use N
        client = ModbusSerialClient(peer.address, baudrate=9600, parity="N", bytesize=8,
                                    stopbits=2, timeout=0.5, retries=0)
        client.connect()
        rr = client.read_holding_registers(0, count=1, device_id=5)
        check(f"{name}: read", not rr.isError() and rr.registers == [55], rr)
        client.close()
        if "pty refuses" in peer.stderr():
            print(f"  note: {name}: this kernel's pty refused parity E; peer served 8N2")
    finally:
        rc = peer.stop()
    check(f"{name}: exits 0", rc == 0, rc)


# --------------------------------------------------------------------------
# faulty_tcp (raw sockets)
# --------------------------------------------------------------------------
def req03(tid: int, unit: int, addr: int, count: int) -> bytes:
    return struct.pack(">HHHBBHH", tid, 0, 6, unit, 3, addr, count)


def resp03(tid: int, unit: int, regs: list[int]) -> bytes:
    pdu = bytes([3, 2 * len(regs)]) + struct.pack(f">{len(regs)}H", *regs)
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def exc_resp(tid: int, unit: int, fc: int, code: int) -> bytes:
    return struct.pack(">HHHBBB", tid, 0, 3, unit, fc | 0x80, code)


def recv_all(sock: socket.socket, quiet: float = 0.3) -> tuple[bytes, bool]:
    """Read until the peer is quiet for `quiet` s; returns (data, closed)."""
    data = b""
    sock.settimeout(quiet)
    while True:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return data, False
        except ConnectionError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def connect(peer: Peer) -> socket.socket:
    return socket.create_connection((peer.host, peer.port), timeout=2)


def run_faulty(tmp: str, mode: str) -> None:
    name = f"faulty_tcp/{mode}"
    holding = [100, 101, 102, 103]
    units = {"1": {"holding": holding}, "3": {"silent": True}}
    every = 3
    peer = Peer({"transport": "faulty_tcp", "port": 0, "units": units,
                 "fault": {"mode": mode, "every": every}}, tmp, name.replace("/", "_"))
    cnt = Counter()
    faults = 0
    try:
        sock = connect(peer)
        tid = 0
        prev_correct: bytes | None = None
        for n in range(1, 7):  # requests 3 and 6 are faulty
            tid += 1
            regs_addr = n % 3  # vary the answer so a stale frame differs from the right one
            sock.sendall(req03(tid, 1, regs_addr, 1))
            cnt.add(1, 3)
            right = resp03(tid, 1, [holding[regs_addr]])
            data, closed = recv_all(sock)
            if n % every:
                check(f"{name}: request {n} answered correctly", data == right and not closed,
                      (data.hex(), right.hex(), closed))
                prev_correct = right
                continue
            faults += 1
            if mode == "none":
                check(f"{name}: request {n} answered correctly", data == right and not closed,
                      (data.hex(), right.hex()))
                faults -= 1
                prev_correct = right
            elif mode == "wrong_tid":
                got_tid = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else None
                check(f"{name}: request {n} wrong tid, same PDU",
                      len(data) == len(right) and got_tid != tid and data[2:] == right[2:]
                      and not closed, (data.hex(), right.hex()))
                prev_correct = right
            elif mode == "drop_mid_frame":
                check(f"{name}: request {n} 5 bytes then close",
                      data == right[:5] and closed, (data.hex(), closed))
            elif mode == "garbage":
                check(f"{name}: request {n} 7 bytes then close",
                      len(data) == 7 and closed, (data.hex(), closed))
            elif mode == "stale_then_right":
                check(f"{name}: request {n} stale (previous tid) then right",
                      prev_correct is not None and data == prev_correct + right and not closed
                      and struct.unpack(">H", prev_correct[:2])[0] == tid - 1,
                      (data.hex(), (prev_correct or b"").hex(), right.hex()))
                prev_correct = right
            if closed:
                sock.close()
                sock = connect(peer)
                prev_correct = None
        # out of range, unknown function, silent, unknown unit
        tid += 1
        sock.sendall(req03(tid, 1, 3, 2))
        cnt.add(1, 3)
        data, _ = recv_all(sock)
        check(f"{name}: out of range -> exception 02", data == exc_resp(tid, 1, 3, 2), data.hex())
        tid += 1
        sock.sendall(struct.pack(">HHHBBHH", tid, 0, 6, 1, 4, 0, 1))
        cnt.add(1, 4)
        data, _ = recv_all(sock)
        check(f"{name}: FC04 -> exception 01", data == exc_resp(tid, 1, 4, 1), data.hex())
        tid += 1
        sock.sendall(req03(tid, 3, 0, 1))
        cnt.add(3, 3)
        data, closed = recv_all(sock, 0.5)
        check(f"{name}: silent unit -> nothing", data == b"" and not closed, data.hex())
        tid += 1
        sock.sendall(req03(tid, 9, 0, 1))
        cnt.add(9, 3)
        data, closed = recv_all(sock, 0.5)
        check(f"{name}: unknown unit -> nothing", data == b"" and not closed, data.hex())
        sock.close()
        # answered so far: 6 + exc02 + exc01 = 8, so no third fault yet
        expect_counts(peer.stats(), cnt.c, name, faults=faults)
        if mode != "none":
            check(f"{name}: 2 faults counted", faults == 2, faults)
    finally:
        rc = peer.stop()
    check(f"{name}: exits 0", rc == 0, rc)


def run_faulty_stale_first(tmp: str) -> None:
    """stale_then_right with every=1: no previous answer -> tid-1 with current PDU."""
    name = "faulty_tcp/stale_first"
    peer = Peer({"transport": "faulty_tcp", "port": 0, "units": {"1": {"holding": [9]}},
                 "fault": {"mode": "stale_then_right", "every": 1}}, tmp, "faulty_stale_first")
    try:
        sock = connect(peer)
        sock.sendall(req03(50, 1, 0, 1))
        data, _ = recv_all(sock)
        check(f"{name}: tid 49 then tid 50", data == resp03(49, 1, [9]) + resp03(50, 1, [9]),
              data.hex())
        sock.close()
    finally:
        peer.stop()


def run_options(tmp: str) -> None:
    """max_lifetime_s and exit_on_stdin_eof end the peer cleanly; a bad spec exits 2."""
    path = os.path.join(tmp, "opt.spec.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"transport": "tcp", "units": {"1": {"holding": [1]}},
                   "max_lifetime_s": 0.5}, fh)
    proc = subprocess.run([PYTHON, PEER, path], capture_output=True, timeout=10, check=False)
    check("options: max_lifetime_s exits 0", proc.returncode == 0
          and proc.stdout.decode().startswith("READY tcp 127.0.0.1:"), proc)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"transport": "faulty_tcp", "units": {"1": {"holding": [1]}},
                   "exit_on_stdin_eof": True}, fh)
    proc = subprocess.Popen([PYTHON, PEER, path], stdin=subprocess.PIPE,  # pylint: disable=consider-using-with
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    proc.stdin.close()
    try:
        rc = proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    proc.stdout.close()
    check("options: exit_on_stdin_eof exits 0", rc == 0 and line.startswith("READY faulty_tcp"),
          (rc, line))
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"transport": "udp", "units": {"1": {}}}, fh)
    proc = subprocess.run([PYTHON, PEER, path], capture_output=True, timeout=10, check=False)
    check("options: bad spec exits 2 without READY", proc.returncode == 2 and proc.stdout == b"",
          proc)


def check_sequential_block_addressing() -> None:
    """pymodbus 3.16: ModbusSequentialDataBlock(1, v) is protocol address 0."""
    from pymodbus.datastore import ModbusSequentialDataBlock  # pylint: disable=import-outside-toplevel

    block = ModbusSequentialDataBlock(1, [5, 6])
    check("pymodbus: ModbusSequentialDataBlock(1, ...) starts at protocol address 0",
          block.simdata[0].address == 0, block.simdata[0])


def main() -> int:
    import pymodbus  # pylint: disable=import-outside-toplevel

    print(f"selfcheck: pymodbus {pymodbus.__version__}, python {sys.version.split()[0]}")
    logging.basicConfig(stream=sys.stderr)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # expected timeouts are noisy
    tmp = tempfile.mkdtemp(prefix="peer_selfcheck_")
    steps = [
        ("addressing", check_sequential_block_addressing),
        ("tcp", lambda: run_tcp(tmp)),
        ("rtu", lambda: run_rtu(tmp)),
        ("rtu-params", lambda: run_rtu_even_parity(tmp)),
        *[(f"faulty_tcp/{m}", (lambda m=m: run_faulty(tmp, m)))
          for m in ("none", "wrong_tid", "drop_mid_frame", "stale_then_right", "garbage")],
        ("faulty_tcp/stale_first", lambda: run_faulty_stale_first(tmp)),
        ("options", lambda: run_options(tmp)),
    ]
    for label, fn in steps:
        before = FAILED
        try:
            fn()
        except Exception as exc:  # pylint: disable=broad-except
            check(f"{label}: ran without exception", False, repr(exc))
        print(f"{label}: {'ok' if FAILED == before else 'FAILED'}")
    for transport, times in sorted(STARTUP.items()):
        print(f"startup {transport}: max {max(times) * 1000:.0f} ms over {len(times)} start(s)")
    if FAILED:
        print(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
