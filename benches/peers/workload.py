"""The workload of issue 21's peer benchmark, shared by the device farm, the Python peer,
the Node-RED flow generator, the edgecite config generator and the consumer.

20 Modbus TCP devices (one pymodbus server each, unit 1), 4 assets per device, 12 or 13
points per asset: 50 points per device, 1,000 points per 100 ms cycle (10,000 points/s).
Each asset's points are contiguous holding registers:

    +0  u32 change stamp (2 registers, big-endian word order "ABCD"): ms since the run's
        epoch, written by the farm at the moment the values change
    +2  4 x f32 (2 registers each, "ABCD")
    +10 7 or 8 x u16

so an asset takes 17 or 18 registers and a device 70 (addresses 0-69), read with one
FC 03 request of 70 registers. f32 values take two registers each, so the 50 points need
70 registers (the issue's "50 holding registers" counted points).
"""

from __future__ import annotations

import math

DEVICES = 20
ASSET_SIZES = (12, 12, 13, 13)  # points per asset, 4 assets per device
INTERVAL_MS = 100
SITE = "bench"
GATEWAY = "gw1"
TOPIC_PREFIX = "edgecite/v1"

# pump_skid roles (src/knowledge/classes.rs) with their units. The stamp takes a spare
# role (v_ca) with its own unit "ms".
STAMP_ROLE = ("v_ca", "ms")
F32_ROLES = [("vib_velocity_rms", "mm/s"), ("vib_accel_rms", "g"), ("vib_accel2_rms", "g"),
             ("motor_current", "A")]
U16_ROLES = [("bearing_temp", "°C"), ("motor_temp", "°C"), ("fluid_temp", "°C"),
             ("flow", "l/min"), ("pressure", "bar"), ("winding_temp", "°C"),
             ("coolant_temp", "°C"), ("v_ab", "V")]


def device_id(d: int) -> str:
    return f"d{d + 1:02d}"


def asset_id(d: int, a: int) -> str:
    return f"D{d + 1:02d}A{a}"


def topic(asset: str) -> str:
    return f"{TOPIC_PREFIX}/{SITE}/{GATEWAY}/{asset}/telemetry"


def layout() -> list[dict]:
    """Per device: {"id", "registers", "assets": [{"id", "points": [{"id", "type",
    "address", "role", "unit"}]}]}. Point ids are unique per device; the full point name is
    "<device id>.<point id>" as edgecite names it."""
    devices = []
    for d in range(DEVICES):
        addr = 0
        assets = []
        for a, size in enumerate(ASSET_SIZES):
            points = [{"id": f"a{a}_stamp", "type": "u32", "address": addr,
                       "role": STAMP_ROLE[0], "unit": STAMP_ROLE[1]}]
            addr += 2
            for i, (role, unit) in enumerate(F32_ROLES):
                points.append({"id": f"a{a}_f{i}", "type": "f32", "address": addr,
                               "role": role, "unit": unit})
                addr += 2
            for i, (role, unit) in enumerate(U16_ROLES[: size - 1 - len(F32_ROLES)]):
                points.append({"id": f"a{a}_u{i}", "type": "u16", "address": addr,
                               "role": role, "unit": unit})
                addr += 1
            assert len(points) == size
            assets.append({"id": asset_id(d, a), "points": points})
        devices.append({"id": device_id(d), "registers": addr, "assets": assets})
    return devices


def points_per_cycle() -> int:
    return DEVICES * sum(ASSET_SIZES)


def f32_value(d: int, a: int, i: int, tick: int) -> float:
    return 10.0 * (a + 1) + i + 5.0 * math.sin(tick / 7.0 + d + i)


def u16_value(d: int, a: int, i: int, tick: int) -> int:
    return (tick * 7 + d * 131 + a * 17 + i) % 65536
