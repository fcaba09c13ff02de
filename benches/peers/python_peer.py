"""The Python peer of benches/peers (a system under test): pymodbus 3.x
AsyncModbusTcpClient + paho-mqtt. Every 100 ms it reads all 70 holding registers of each of
the 20 devices (one FC 03 request per device, the 20 concurrently), decodes the u16, u32 and
f32 points and publishes one JSON telemetry message per asset, QoS 1, with the same content
as edgecite's telemetry (docs/mqtt.md: schema, site, gateway, ts, ts_ms, dedup_id, seq,
replay, asset, values[role, point, value, text, unit, ts, ts_ms, quality]).

    python python_peer.py --broker-port P --ports p1,p2,...
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
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workload as W


def rfc3339(ms: int) -> str:
    t = datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def decode(regs: list[int], p: dict) -> float:
    a = p["address"]
    if p["type"] == "u16":
        return regs[a]
    if p["type"] == "u32":
        return (regs[a] << 16) | regs[a + 1]
    return struct.unpack(">f", struct.pack(">HH", regs[a], regs[a + 1]))[0]


async def amain(args) -> None:
    import paho.mqtt.client as mqtt
    from pymodbus.client import AsyncModbusTcpClient

    layout = W.layout()
    ports = [int(p) for p in args.ports.split(",")]
    mq = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="python-peer", clean_session=True)
    mq.max_inflight_messages_set(500)
    mq.max_queued_messages_set(0)
    mq.connect("127.0.0.1", args.broker_port, keepalive=30)
    mq.loop_start()

    clients = [AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0) for port in ports]
    for c in clients:
        await c.connect()
    seq = 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def poll(d: int):
        try:
            rr = await clients[d].read_holding_registers(0, count=layout[d]["registers"], device_id=1)
        except Exception as exc:  # noqa: BLE001 -- a failed read is a missed cycle
            logging.warning("device %d: %s", d, exc)
            return d, None, 0
        return d, (None if rr.isError() else rr.registers), int(time.time() * 1000)

    next_t = time.monotonic()
    while not stop.is_set():
        results = await asyncio.gather(*(poll(d) for d in range(len(layout))))
        for d, regs, now in results:
            if regs is None:
                continue
            ts = rfc3339(now)
            for asset in layout[d]["assets"]:
                seq += 1
                values = [{"role": p["role"], "point": f"{layout[d]['id']}.{p['id']}",
                           "value": decode(regs, p), "text": None, "unit": p["unit"], "ts": ts,
                           "ts_ms": now, "quality": "good"} for p in asset["points"]]
                msg = {"schema": "edgecite/v1/telemetry", "site": W.SITE, "gateway": W.GATEWAY,
                       "ts": ts, "ts_ms": now, "dedup_id": f"1-{seq}", "seq": seq, "replay": False,
                       "asset": asset["id"], "values": values}
                mq.publish(W.topic(asset["id"]), json.dumps(msg, separators=(",", ":")), qos=1)
        next_t += W.INTERVAL_MS / 1000.0
        delay = next_t - time.monotonic()
        if delay < 0:  # late: skip the missed cycles rather than bursting
            next_t = time.monotonic()
            delay = 0
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            pass
    for c in clients:
        c.close()
    mq.loop_stop()
    mq.disconnect()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker-port", type=int, required=True)
    ap.add_argument("--ports", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
