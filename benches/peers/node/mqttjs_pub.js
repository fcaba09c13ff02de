// MQTT throughput with mqtt.js (benches/peers, the MQTT table): N QoS 1 publishes of SIZE
// bytes to the local broker with at most WINDOW unacknowledged (default 500, as edgecite's
// [mqtt] max_inflight and the rumqttc client in benches/mqtt.rs), the next publish issued
// from each PUBACK callback; timed from the first publish until the last PUBACK.
// (Handing all 100,000 to mqtt.js at once stalls: message ids are 16-bit.)
//   node mqttjs_pub.js PORT N SIZE [WINDOW] -> one JSON line {"n":..,"seconds":..,"msg_per_s":..}
const mqtt = require("mqtt");
const [port, n, size, windowArg] = process.argv.slice(2).map((x) => parseInt(x, 10));
const win = windowArg || 500;
const payload = Buffer.alloc(size, "x");
const client = mqtt.connect({ host: "127.0.0.1", port, clientId: "mqttjs-bench", clean: true, reconnectPeriod: 0 });
client.on("error", (e) => { console.error(e); process.exit(1); });
client.on("close", () => { if (acked < n) { console.error(`closed after ${acked} acks`); process.exit(1); } });
let acked = 0;
let sent = 0;
client.on("connect", () => {
  const t0 = process.hrtime.bigint();
  const next = () => { if (sent < n) { sent += 1; client.publish("bench/mqttjs", payload, { qos: 1 }, done); } };
  const done = (err) => {
    if (err) { console.error(err); process.exit(1); }
    acked += 1;
    if (acked === n) {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(JSON.stringify({ n, window: win, seconds: s, msg_per_s: n / s }));
      client.end(true, () => process.exit(0));
    } else next();
  };
  for (let i = 0; i < win; i++) next();
});
