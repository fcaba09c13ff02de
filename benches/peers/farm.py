"""The device farm of benches/peers (not measured): one asyncio process with 20 pymodbus
3.x Modbus TCP servers on 20 loopback ports, unit 1 each, 70 holding registers (see
workload.py). Every 100 ms (on the epoch's 100 ms grid) all values change and each asset's
u32 change stamp is set to the milliseconds since the epoch at that moment, in one step of
the event loop, so a read never sees half a cycle. Every read request is counted per device
(and its time kept, written at exit as "request_times").

    python farm.py --epoch-ms E --stats FILE
prints "READY port1,port2,..." and writes FILE (JSON: stamps written, requests per device)
every 250 ms and at exit. Exits on SIGTERM/SIGINT or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workload as W


class FarmContext:
    """What pymodbus' request handler calls: device_ids() and async_getValues/SetValues on
    a plain list of registers (addresses from 0)."""

    def __init__(self, registers: int, epoch_ms: int) -> None:
        self.regs = [0] * registers
        self.requests = 0
        self.epoch_ms = epoch_ms
        self.times: list[int] = []  # ms since the epoch of every read, written at exit

    def device_ids(self) -> list[int]:
        return [1]

    async def async_getValues(self, device_id, func_code, address, count=1):
        from pymodbus.constants import ExcCodes

        self.requests += 1
        self.times.append(int(time.time() * 1000) - self.epoch_ms)
        if func_code not in (3, 4) or address < 0 or address + count > len(self.regs):
            return ExcCodes.ILLEGAL_ADDRESS
        return self.regs[address:address + count]

    async def async_setValues(self, device_id, func_code, address, values):
        from pymodbus.constants import ExcCodes

        return ExcCodes.ILLEGAL_FUNCTION


def fill(ctx: FarmContext, d: int, dev: dict, tick: int, stamp: int) -> None:
    regs = ctx.regs
    hi, lo = (stamp >> 16) & 0xFFFF, stamp & 0xFFFF
    for a, asset in enumerate(dev["assets"]):
        fi = ui = 0
        for p in asset["points"]:
            addr = p["address"]
            if p["type"] == "u32":
                regs[addr], regs[addr + 1] = hi, lo
            elif p["type"] == "f32":
                b = struct.pack(">f", W.f32_value(d, a, fi, tick))
                regs[addr], regs[addr + 1] = struct.unpack(">HH", b)
                fi += 1
            else:
                regs[addr] = W.u16_value(d, a, ui, tick)
                ui += 1


async def amain(args) -> None:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    layout = W.layout()
    contexts = []
    servers = []
    ports = []
    for dev in layout:
        dummy = [SimDevice(1, simdata=SimData(0, values=[0] * dev["registers"], datatype=DataType.REGISTERS))]
        server = ModbusTcpServer(dummy, address=("127.0.0.1", 0))
        ctx = FarmContext(dev["registers"], args.epoch_ms)
        server.context = ctx
        await server.serve_forever(background=True)
        ports.append(server.transport.sockets[0].getsockname()[1])
        servers.append(server)
        contexts.append(ctx)

    stamps: list[int] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: (sys.stdin.buffer.read1(65536) or stop.set()))

    def write_stats(final: bool = False) -> None:
        tmp = args.stats + ".tmp"
        doc = {"stamps": stamps, "requests": [c.requests for c in contexts],
               "now_ms": int(time.time() * 1000) - args.epoch_ms}
        if final:
            doc["request_times"] = [c.times for c in contexts]
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, args.stats)

    async def ticker() -> None:
        tick = 0
        while not stop.is_set():
            now_ms = int(time.time() * 1000) - args.epoch_ms
            nxt = (now_ms // W.INTERVAL_MS + 1) * W.INTERVAL_MS
            await asyncio.sleep((nxt - now_ms) / 1000.0)
            stamp = int(time.time() * 1000) - args.epoch_ms
            tick += 1
            for d, dev in enumerate(layout):
                fill(contexts[d], d, dev, tick, stamp)
            stamps.append(stamp)

    async def stats_writer() -> None:
        while not stop.is_set():
            write_stats()
            await asyncio.sleep(0.25)

    tasks = [asyncio.create_task(ticker()), asyncio.create_task(stats_writer())]
    await asyncio.sleep(0.15)  # the first values are in place before anybody is told
    print("READY " + ",".join(map(str, ports)), flush=True)
    await stop.wait()
    for t in tasks:
        t.cancel()
    write_stats(final=True)
    for s in servers:
        await s.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epoch-ms", type=int, required=True)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
