"""Issue 21's side-by-side peer benchmark: the same Modbus-to-MQTT workload through edgecite,
Node-RED 4 + node-red-contrib-modbus and a pymodbus + paho-mqtt script, each alone, against
one device farm and one local Mosquitto; then an MQTT publish throughput table
(mosquitto_pub, mqtt.js, edgecite's outbox via `cargo bench --bench mqtt`).
Run it through benches/peers/run.sh (installs what it needs). What is measured and how:
benches/peers/README.md. A benchmark, not a test: no thresholds, not run by scripts/test.sh.

    python peers.py [--seconds 60] [--only edgecite|nodered|python] [--no-mqtt-table] ...
    python peers.py consume ...   (internal: the MQTT consumer process)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import workload as W

CLK_TCK = os.sysconf("SC_CLK_TCK")
SYSTEMS = ("edgecite", "nodered", "python")
LABELS = {"edgecite": "edgecite", "nodered": "Node-RED", "python": "Python script"}


def log(msg: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


# --------------------------------------------------------------------------- /proc


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, utime + stime in ticks, rss kB)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            ppid, ticks = int(fields[1]), int(fields[11]) + int(fields[12])
            rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, ValueError, IndexError):
            continue
        out[int(name)] = (ppid, ticks, rss)
    return out


def tree(pid: int) -> tuple[float, int, int]:
    """CPU seconds (utime + stime) and RSS (KiB) of pid and its live descendants, and the
    number of processes."""
    table = _proc_table()
    members, frontier = {pid}, [pid]
    while frontier:
        p = frontier.pop()
        for child, (ppid, _, _) in table.items():
            if ppid == p and child not in members:
                members.add(child)
                frontier.append(child)
    ticks = sum(table[p][1] for p in members if p in table)
    rss = sum(table[p][2] for p in members if p in table)
    return ticks / CLK_TCK, rss, len(members)


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --------------------------------------------------------------------------- consumer


def consume(argv: list[str]) -> None:
    """Subscribes to every asset's telemetry topic (QoS 1); for each (asset, stamp) seen
    first: arrival - stamp (ms, same clock) and the number of good values. Writes --out on
    SIGTERM."""
    import paho.mqtt.client as mqtt

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--epoch-ms", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    seen: set = set()
    records: list = []
    counts = {"messages": 0, "duplicates": 0, "bytes": 0, "errors": 0, "no_stamp": 0}
    done = []

    def on_connect(c, _u, _f, _rc, _p=None):
        c.subscribe(f"{W.TOPIC_PREFIX}/{W.SITE}/{W.GATEWAY}/+/telemetry", qos=1)

    def on_subscribe(*_):
        print("READY", flush=True)

    def on_message(_c, _u, m):
        t = time.time() * 1000.0 - a.epoch_ms
        counts["messages"] += 1
        counts["bytes"] += len(m.payload)
        try:
            doc = json.loads(m.payload)
            values = doc["values"]
            stamp = next((v["value"] for v in values if v["point"].endswith("_stamp")), None)
            if stamp is None:
                counts["no_stamp"] += 1
                return
            key = (doc["asset"], stamp)
            if key in seen:
                counts["duplicates"] += 1
                return
            seen.add(key)
            good = sum(1 for v in values if v["quality"] == "good" and v["value"] is not None)
            records.append((int(stamp), round(t - stamp, 2), good, doc["asset"]))
        except (ValueError, KeyError, TypeError):
            counts["errors"] += 1

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"peers-consumer-{os.getpid()}")
    c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
    signal.signal(signal.SIGTERM, lambda *_: done.append(1))
    c.connect("127.0.0.1", a.port, keepalive=30)
    c.loop_start()
    while not done:
        time.sleep(0.1)
    c.loop_stop()
    with open(a.out, "w") as f:
        json.dump({"records": records, **counts}, f)


# --------------------------------------------------------------------------- systems


def edgecite_config(d: str, ports: list[int], broker: int, diagnose_ms: int) -> str:
    out = [
        "# Generated by benches/peers/peers.py: issue 21's peer workload.",
        "[site]", f'id = "{W.SITE}"', f'gateway = "{W.GATEWAY}"', "",
    ]
    layout = W.layout()
    for dev, port in zip(layout, ports):
        out += ["[[sources.modbus]]", f'id = "{dev["id"]}"', 'host = "127.0.0.1"', f"port = {port}",
                "unit = 1", f"interval_ms = {W.INTERVAL_MS}", "timeout_ms = 1000", "points = ["]
        for asset in dev["assets"]:
            for p in asset["points"]:
                out.append(f'  {{ id = "{p["id"]}", register = "holding", address = {p["address"]}, '
                           f'type = "{p["type"]}", unit = "{p["unit"]}" }},')
        out += ["]", ""]
    for dev in layout:
        for asset in dev["assets"]:
            roles = ", ".join(f'{p["role"]} = "{dev["id"]}.{p["id"]}"' for p in asset["points"])
            out += ["[[assets]]", f'id = "{asset["id"]}"', 'class = "pump_skid"',
                    'vibration = { group = "group2", foundation = "rigid" }', f"roles = {{ {roles} }}", ""]
    out += [
        "[store]", f'path = "{d}/edgecite.db"', "",
        "[api]", "enabled = false", "",
        "[inference]", "enabled = false", "",
        "# [packs] builtin = true (the default): the shipped criteria run on every pass, as in",
        "# the runs reported in README",
        "# telemetry goes out when each poll arrives; the criteria are evaluated at the daemon's",
        "# own interval (default 1000 ms)",
        "[diagnose]", f"interval_ms = {diagnose_ms}", "",
        "[mqtt]", "enabled = true", 'host = "127.0.0.1"', f"port = {broker}", "qos = 1",
        "# no per-asset rate limit: one message per asset per poll (sent when the poll arrives)",
        "telemetry_interval_ms = 0", "",
    ]
    return "\n".join(out) + "\n"


NODE_FUNC = r"""
const regs = msg.payload;
const now = Date.now();
const ts = new Date(now).toISOString();
let seq = flow.get("seq") || 0;
const out = [];
for (const a of ASSETS) {
  const values = a.points.map((p) => {
    let v;
    if (p.type === "u16") v = regs[p.address];
    else if (p.type === "u32") v = regs[p.address] * 65536 + regs[p.address + 1];
    else { buf.writeUInt16BE(regs[p.address], 0); buf.writeUInt16BE(regs[p.address + 1], 2); v = buf.readFloatBE(0); }
    return { role: p.role, point: p.point, value: v, text: null, unit: p.unit, ts: ts, ts_ms: now, quality: "good" };
  });
  seq += 1;
  out.push({ topic: a.topic, payload: JSON.stringify({ schema: "edgecite/v1/telemetry", site: SITE, gateway: GATEWAY,
    ts: ts, ts_ms: now, dedup_id: "1-" + seq, seq: seq, replay: false, asset: a.id, values: values }) });
}
flow.set("seq", seq);
return [out];
"""


def nodered_flows(ports: list[int], broker: int) -> list[dict]:
    flows: list[dict] = [{"id": "tab1", "type": "tab", "label": "peers", "disabled": False},
                         {"id": "broker1", "type": "mqtt-broker", "name": "local", "broker": "127.0.0.1",
                          "port": str(broker), "clientid": "nodered-peer", "autoConnect": True, "usetls": False,
                          "protocolVersion": "4", "keepalive": "30", "cleansession": True,
                          "autoUnsubscribe": True, "birthTopic": "", "closeTopic": "", "willTopic": ""},
                         {"id": "mqttout", "type": "mqtt out", "z": "tab1", "name": "telemetry", "topic": "",
                          "qos": "1", "retain": "false", "respTopic": "", "contentType": "", "userProps": "",
                          "correl": "", "expiry": "", "broker": "broker1", "wires": []}]
    for i, (dev, port) in enumerate(zip(W.layout(), ports)):
        assets = [{"id": a["id"], "topic": W.topic(a["id"]),
                   "points": [{"role": p["role"], "point": f'{dev["id"]}.{p["id"]}', "type": p["type"],
                               "address": p["address"], "unit": p["unit"]} for p in a["points"]]}
                  for a in dev["assets"]]
        func = (f"const ASSETS = {json.dumps(assets)};\nconst SITE = {json.dumps(W.SITE)};\n"
                f"const GATEWAY = {json.dumps(W.GATEWAY)};\nconst buf = Buffer.alloc(4);\n" + NODE_FUNC)
        flows += [
            {"id": f"client{i}", "type": "modbus-client", "name": dev["id"], "clienttype": "tcp",
             "bufferCommands": True, "stateLogEnabled": False, "queueLogEnabled": False,
             "failureLogEnabled": False, "tcpHost": "127.0.0.1", "tcpPort": str(port), "tcpType": "DEFAULT",
             "serialPort": "/dev/ttyUSB", "serialType": "RTU-BUFFERD", "serialBaudrate": "9600",
             "serialDatabits": "8", "serialStopbits": "1", "serialParity": "none",
             "serialConnectionDelay": "100", "serialAsciiResponseStartDelimiter": "0x3A", "unit_id": "1",
             "commandDelay": "1", "clientTimeout": "1000", "reconnectOnTimeout": True,
             "reconnectTimeout": "2000", "parallelUnitIdsAllowed": True, "showErrors": False,
             "showWarnings": False, "showLogs": False},
            {"id": f"read{i}", "type": "modbus-read", "z": "tab1", "name": f"read {dev['id']}", "topic": "",
             "showStatusActivities": False, "logIOActivities": False, "showErrors": False,
             "showWarnings": False, "unitid": "1", "dataType": "HoldingRegister", "adr": "0",
             "quantity": str(dev["registers"]), "rate": str(W.INTERVAL_MS), "rateUnit": "ms",
             "delayOnStart": False, "enableDeformedMessages": False, "startDelayTime": "", "server": f"client{i}", "useIOFile": False,
             "ioFile": "", "useIOForPayload": False, "emptyMsgOnFail": False,
             "wires": [[f"fn{i}"], []]},
            {"id": f"fn{i}", "type": "function", "z": "tab1", "name": f"assets {dev['id']}", "func": func,
             "outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
             "wires": [["mqttout"]]},
        ]
    return flows


def node_bin() -> str:
    return shutil.which("node") or "node"


def start_system(name: str, tmp: str, ports: list[int], broker: int, args) -> subprocess.Popen:
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    logf = open(os.path.join(d, "log.txt"), "w")
    env = dict(os.environ)
    if name == "edgecite":
        cfg = os.path.join(d, "edgecite.toml")
        with open(cfg, "w") as f:
            f.write(edgecite_config(d, ports, broker, args.diagnose_ms))
        cmd = [args.edgecite_bin, "run", "--config", cfg]
        env.setdefault("RUST_LOG", "warn")
    elif name == "nodered":
        flows = os.path.join(d, "flows.json")
        with open(flows, "w") as f:
            json.dump(nodered_flows(ports, broker), f, indent=1)
        env["NR_PORT"] = str(free_port())
        cmd = [node_bin(), os.path.join(HERE, "node", "node_modules", "node-red", "red.js"),
               "-u", d, "-s", os.path.join(HERE, "node", "settings.js"), flows]
    else:
        cmd = [sys.executable, os.path.join(HERE, "python_peer.py"), "--broker-port", str(broker),
               "--ports", ",".join(map(str, ports))]
    log(f"{name}: {' '.join(cmd)}")
    return subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True, cwd=d)


def farm_stats(path: str) -> dict:
    for _ in range(50):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            time.sleep(0.02)
    raise RuntimeError(f"cannot read {path}")


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100.0 * (len(xs) - 1))))]


def run_one(name: str, tmp: str, ports: list[int], broker: int, epoch_ms: int, stats_path: str, args) -> dict:
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    cons_out = os.path.join(d, "consumer.json")
    consumer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "consume", "--port", str(broker),
                                 "--epoch-ms", str(epoch_ms), "--out", cons_out],
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
    if consumer.stdout.readline().strip() != "READY":
        raise RuntimeError("consumer did not subscribe")
    proc = start_system(name, tmp, ports, broker, args)
    try:
        time.sleep(args.warmup)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {d}/log.txt")
        load0 = os.getloadavg()[0]
        s0 = farm_stats(stats_path)
        cpu0, _, _ = tree(proc.pid)
        w0 = time.time() * 1000 - epoch_ms
        rss = []
        nprocs = 0
        end = time.time() + args.seconds
        while time.time() < end:
            _, r, n = tree(proc.pid)
            rss.append(r)
            nprocs = max(nprocs, n)
            time.sleep(0.5)
        cpu1, r, _ = tree(proc.pid)
        rss.append(r)
        w1 = time.time() * 1000 - epoch_ms
        s1 = farm_stats(stats_path)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} during the run; see {d}/log.txt")
        time.sleep(args.grace)  # messages of the window's last cycles still on their way
    finally:
        stop_group(proc)
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(30)
    with open(cons_out) as f:
        cons = json.load(f)
    stats = farm_stats(stats_path)
    cycles = sum(1 for s in stats["stamps"] if w0 <= s < w1)
    expected = cycles * W.points_per_cycle()
    inwin = [r for r in cons["records"] if w0 <= r[0] < w1]
    delivered = sum(r[2] for r in inwin)
    lat = [r[1] for r in inwin]
    cpu = cpu1 - cpu0
    farm_cycles = (s1["now_ms"] - s0["now_ms"]) / W.INTERVAL_MS
    reqs = sum(s1["requests"]) - sum(s0["requests"])
    res = {
        "system": name, "window_s": round((w1 - w0) / 1000.0, 3), "cycles": cycles,
        "expected_points": expected, "delivered_points": delivered,
        "delivered_pct": 100.0 * delivered / expected if expected else None,
        "cpu_s": round(cpu, 3), "cpu_pct_of_one_core": 100.0 * cpu / ((w1 - w0) / 1000.0),
        "points_per_cpu_s": delivered / cpu if cpu > 0 else None,
        "rss_max_mib": max(rss) / 1024.0, "rss_mean_mib": statistics.mean(rss) / 1024.0,
        "processes": nprocs,
        "latency_p50_ms": pct(lat, 50), "latency_p99_ms": pct(lat, 99), "latency_max_ms": max(lat) if lat else None,
        "modbus_requests_per_cycle": reqs / farm_cycles if farm_cycles else None,
        "modbus_requests_per_device_per_cycle": reqs / farm_cycles / W.DEVICES if farm_cycles else None,
        "messages_received": cons["messages"], "duplicate_messages": cons["duplicates"],
        "consumer_errors": cons["errors"] + cons["no_stamp"],
        "mean_message_bytes": cons["bytes"] / cons["messages"] if cons["messages"] else None,
        "load_avg_1min_start_end": [load0, os.getloadavg()[0]],
        "log": os.path.join(d, "log.txt"),
    }
    res["_records"] = inwin
    log(f"{name}: " + json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in res.items() if k[0] != "_"}))
    return res


def poll_latency(res: dict, request_times: list[list[int]]) -> None:
    """Poll to MQTT: arrival minus the time the farm answered the first read of that device
    after the stamp was written (the read that carried it), independent of the poller's
    phase against the farm's cycle."""
    import bisect

    lat = []
    for stamp, change_lat, _good, asset in res.pop("_records"):
        times = request_times[int(asset[1:3]) - 1]
        i = bisect.bisect_left(times, stamp)
        arrival = stamp + change_lat
        if i < len(times) and times[i] <= arrival:
            lat.append(arrival - times[i])
    res["poll_to_mqtt_p50_ms"] = pct(lat, 50)
    res["poll_to_mqtt_p99_ms"] = pct(lat, 99)


# --------------------------------------------------------------------------- MQTT table


def mqtt_table(tmp: str, broker: int, args) -> dict:
    n, size = args.mqtt_messages, 200
    out: dict = {"messages": n, "payload_bytes": size, "qos": 1}
    lines = os.path.join(tmp, "lines.txt")
    with open(lines, "w") as f:
        f.write(("x" * size + "\n") * n)
    pub = shutil.which("mosquitto_pub")
    if pub:
        t0 = time.perf_counter()
        with open(lines) as f:
            r = subprocess.run([pub, "-h", "127.0.0.1", "-p", str(broker), "-q", "1", "-t", "bench/mosquitto_pub",
                                "-i", "peers-mosquitto-pub", "-l"], stdin=f, capture_output=True, text=True)
        s = time.perf_counter() - t0
        out["mosquitto_pub"] = {"seconds": s, "msg_per_s": n / s, "rc": r.returncode,
                                "note": "-l (one message per stdin line), libmosquitto's default window of 20 in flight; process start to exit"}
        log(f"mosquitto_pub: {n / s:.0f} msg/s")
    else:
        out["mosquitto_pub"] = {"error": "mosquitto_pub not installed (Debian package mosquitto-clients)"}
    r = subprocess.run([node_bin(), os.path.join(HERE, "node", "mqttjs_pub.js"), str(broker), str(n), str(size)],
                       capture_output=True, text=True, cwd=os.path.join(HERE, "node"))
    try:
        out["mqtt.js"] = json.loads(r.stdout.strip().splitlines()[-1])
        out["mqtt.js"]["note"] = "at most 500 unacknowledged (next publish from each PUBACK); first publish to last PUBACK"
        log(f"mqtt.js: {out['mqtt.js']['msg_per_s']:.0f} msg/s")
    except (IndexError, ValueError):
        out["mqtt.js"] = {"error": (r.stderr or r.stdout)[-500:]}
    if args.no_cargo_bench:
        out["edgecite"] = {"error": "skipped (--no-cargo-bench)"}
        return out
    log("edgecite outbox: cargo bench --bench mqtt (its own Mosquitto; compiles the bench if needed)")
    r = subprocess.run(["cargo", "bench", "--bench", "mqtt"], cwd=ROOT, capture_output=True, text=True)
    ed: dict = {"command": "cargo bench --bench mqtt", "rc": r.returncode}
    for line in r.stdout.splitlines():
        if line.startswith("mqtt direct QoS 1:") or line.startswith("mqtt through the outbox QoS 1:"):
            key = "direct_rumqttc" if "direct" in line else "outbox"
            ed[key] = float(line.rsplit(",", 2)[-1].split("msg/s")[0].strip()) if key == "direct_rumqttc" \
                else float(line.split("messages,")[1].split("msg/s")[0].strip())
            ed[key + "_line"] = line
    if "outbox" not in ed:
        ed["error"] = (r.stderr or r.stdout)[-800:]
    else:
        log(f"edgecite outbox: {ed['outbox']:.0f} msg/s")
    out["edgecite"] = ed
    return out


# --------------------------------------------------------------------------- report


def fmt(v, nd=0) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}"


def ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def report(results: dict, mqtt: dict | None, meta: dict) -> str:
    names = [n for n in SYSTEMS if n in results]
    rows = [
        ("points delivered per CPU-second", "points_per_cpu_s", 0),
        ("CPU-seconds in the window", "cpu_s", 2),
        ("CPU, % of one core", "cpu_pct_of_one_core", 1),
        ("RSS max (MiB, process tree, sampled every 0.5 s)", "rss_max_mib", 1),
        ("RSS mean (MiB)", "rss_mean_mib", 1),
        ("points delivered (%)", "delivered_pct", 2),
        ("register change to MQTT latency p50 (ms)", "latency_p50_ms", 1),
        ("register change to MQTT latency p99 (ms)", "latency_p99_ms", 1),
        ("poll (farm's answer) to MQTT p50 (ms)", "poll_to_mqtt_p50_ms", 1),
        ("poll (farm's answer) to MQTT p99 (ms)", "poll_to_mqtt_p99_ms", 1),
        ("Modbus requests per cycle (20 devices)", "modbus_requests_per_cycle", 2),
        ("messages received (duplicates)", None, 0),
        ("mean message size (bytes)", "mean_message_bytes", 0),
        ("load average (1 min) at the window's start / end", None, 0),
    ]
    head = ["", *[LABELS[n] for n in names]]
    ratios = [o for o in ("nodered", "python") if "edgecite" in results and o in results]
    head += [f"edgecite / {LABELS[o]}" for o in ratios]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, key, nd in rows:
        if key is None and label.startswith("load"):
            cells = ["{:.2f} / {:.2f}".format(*results[n]["load_avg_1min_start_end"]) for n in names]
            cells += ["-" for _ in ratios]
        elif key is None:
            cells = [f"{results[n]['messages_received']:,} ({results[n]['duplicate_messages']:,})" for n in names]
            cells += ["-" for _ in ratios]
        else:
            cells = [fmt(results[n][key], nd) for n in names]
            cells += [ratio(results["edgecite"][key], results[o][key]) for o in ratios]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    txt = "\n".join(lines) if names else ""
    if mqtt:
        m = [f"\nMQTT QoS 1 publish, {mqtt['messages']:,} messages of {mqtt['payload_bytes']} B to the local Mosquitto:\n",
             "| publisher | msg/s |", "|---|---|"]
        for k, label in (("mosquitto_pub", "mosquitto_pub 2.0 (libmosquitto, -l, 20 in flight)"), ("mqtt.js", "mqtt.js 5 (window 500)")):
            v = mqtt.get(k, {})
            m.append(f"| {label} | {fmt(v.get('msg_per_s'))} |" if "msg_per_s" in v else f"| {label} | {v.get('error', '-')} |")
        e = mqtt.get("edgecite", {})
        if "outbox" in e:
            m.append(f"| edgecite outbox (commit, send, PUBACK, delete; `cargo bench --bench mqtt`) | {fmt(e['outbox'])} |")
            m.append(f"| rumqttc directly, window 500 (same `cargo bench --bench mqtt`) | {fmt(e.get('direct_rumqttc'))} |")
        else:
            m.append(f"| edgecite outbox | {e.get('error', '-')[:200]} |")
        txt += "\n" + "\n".join(m)
    return txt


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "consume":
        consume(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60, help="measured window per system (default 60)")
    ap.add_argument("--only", choices=SYSTEMS, action="append", help="run only this system (repeatable)")
    ap.add_argument("--warmup", type=float, default=8, help="seconds after start before the window (default 8)")
    ap.add_argument("--grace", type=float, default=2, help="seconds after the window for messages in flight")
    ap.add_argument("--edgecite-bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                            "release", "edgecite"))
    ap.add_argument("--diagnose-ms", type=int, default=1000,
                    help="edgecite's [diagnose] interval_ms (default 1000, the daemon's own default; telemetry does not wait for it)")
    ap.add_argument("--no-mqtt-table", action="store_true")
    ap.add_argument("--no-systems", action="store_true", help="only the MQTT table")
    ap.add_argument("--no-cargo-bench", action="store_true", help="MQTT table without edgecite's outbox number")
    ap.add_argument("--mqtt-messages", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir's logs, stores and configs")
    args = ap.parse_args()
    systems = [] if args.no_systems else (args.only or list(SYSTEMS))

    tmp = tempfile.mkdtemp(prefix="edgecite-peers-")
    log(f"temp dir {tmp}")
    broker = free_port()
    with open(os.path.join(tmp, "mosquitto.conf"), "w") as f:
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        f.write(f"listener {broker} 127.0.0.1\nallow_anonymous true\nuser {user}\n"
                "max_inflight_messages 0\nmax_queued_messages 0\npersistence false\n")
    mosq = subprocess.Popen(["mosquitto", "-c", os.path.join(tmp, "mosquitto.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    farm = None
    results: dict = {}
    mqtt = None
    try:
        wait_port(broker)
        epoch_ms = int(time.time() * 1000)
        stats_path = os.path.join(tmp, "farm-stats.json")
        farm = subprocess.Popen([sys.executable, os.path.join(HERE, "farm.py"), "--epoch-ms", str(epoch_ms),
                                 "--stats", stats_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, start_new_session=True)
        line = farm.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"device farm did not start: {line!r}")
        ports = [int(p) for p in line.split()[1].split(",")]
        log(f"device farm: {len(ports)} pymodbus servers, ports {ports[0]}..; broker 127.0.0.1:{broker}")
        for name in systems:
            log(f"--- {name}: warm-up {args.warmup:g} s, window {args.seconds:g} s")
            results[name] = run_one(name, tmp, ports, broker, epoch_ms, stats_path, args)
        farm.stdin.close()
        farm.send_signal(signal.SIGTERM)
        farm.wait(30)
        farm = None
        final = farm_stats(stats_path)
        for res in results.values():
            poll_latency(res, final.get("request_times") or [[] for _ in ports])
        if not args.no_mqtt_table:
            mqtt = mqtt_table(tmp, broker, args)
    finally:
        if farm:
            stop_group(farm)
        stop_group(mosq)
    meta = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "cpus": os.cpu_count(),
        "load_avg_end": os.getloadavg(), "seconds": args.seconds, "warmup": args.warmup,
        "workload": f"{W.DEVICES} Modbus TCP devices (pymodbus {_ver('pymodbus')}), {W.points_per_cycle() // W.DEVICES} points "
                    f"(u16, f32, u32 stamp; {W.layout()[0]['registers']} holding registers) each, every {W.INTERVAL_MS} ms; "
                    f"{W.DEVICES * len(W.ASSET_SIZES)} assets of {min(W.ASSET_SIZES)}-{max(W.ASSET_SIZES)} points; "
                    "one telemetry message per asset per cycle, QoS 1, local Mosquitto",
        "edgecite_config": f"[diagnose] interval_ms = {args.diagnose_ms} (telemetry goes out when each poll arrives), "
                           "[mqtt] telemetry_interval_ms = 0, telemetry_linger_ms = 5 (default), built-in packs on (their criteria evaluated on every pass), "
                           "[inference] enabled = false, [api] enabled = false, store on (SQLite, commit every 1 s)",
        "onnx_column": "not measured (left out: see benches/peers/README.md)",
    }
    doc = {"meta": meta, "systems": results, "mqtt_throughput": mqtt}
    path = os.path.join(tmp, "results.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    print(f"\nissue 21 peer benchmark, {meta['date_utc']} UTC, {meta['cpus']} cores, window {args.seconds:g} s per system "
          f"(each alone; farm, broker and consumer on the same cores)")
    print(f"workload: {meta['workload']}")
    print(f"edgecite configured: {meta['edgecite_config']}")
    print("ONNX column (one inference per asset per cycle): not measured\n")
    print(report(results, mqtt, meta))
    print(f"\nresults JSON: {path}")
    if not args.keep:
        for name in results:
            for f in ("edgecite.db", "edgecite.db-wal", "edgecite.db-shm", "outbox.db", "outbox.db-wal", "outbox.db-shm"):
                p = os.path.join(tmp, name, f)
                if os.path.exists(p):
                    os.remove(p)


def _ver(pkg: str) -> str:
    try:
        import importlib.metadata as md

        return md.version(pkg)
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    main()
