// MQTT throughput with mqtt.js (benches/peers, the MQTT table): N QoS 1 publishes of SIZE
// bytes to the local broker, all handed to the client at once (mqtt.js keeps them in its
// outgoing store), timed from the first publish until the last PUBACK.
//   node mqttjs_pub.js PORT N SIZE   -> prints one JSON line {"n":..,"seconds":..,"msg_per_s":..}
const mqtt = require("mqtt");
const [port, n, size] = process.argv.slice(2).map((x) => parseInt(x, 10));
const payload = Buffer.alloc(size, "x");
const client = mqtt.connect({ host: "127.0.0.1", port, clientId: "mqttjs-bench", clean: true, reconnectPeriod: 0 });
client.on("error", (e) => { console.error(e); process.exit(1); });
client.on("connect", () => {
  let acked = 0;
  const t0 = process.hrtime.bigint();
  const done = (err) => {
    if (err) { console.error(err); process.exit(1); }
    acked += 1;
    if (acked === n) {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(JSON.stringify({ n, seconds: s, msg_per_s: n / s }));
      client.end(true, () => process.exit(0));
    }
  };
  for (let i = 0; i < n; i++) client.publish("bench/mqttjs", payload, { qos: 1 }, done);
});
