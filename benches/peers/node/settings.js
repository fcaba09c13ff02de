// Node-RED settings for benches/peers: headless (no editor), logs at warn, memory context.
// peers.py starts: node node_modules/node-red/red.js -u USERDIR -s settings.js FLOWS.json
// with NR_PORT set to a free port (the admin HTTP server still listens; nothing calls it).
module.exports = {
  uiHost: "127.0.0.1",
  uiPort: parseInt(process.env.NR_PORT || "1880", 10),
  disableEditor: true,
  credentialSecret: false,
  flowFilePretty: false,
  logging: { console: { level: "warn", metrics: false, audit: false } },
  telemetry: { enabled: false },
  diagnostics: { enabled: false },
  runtimeState: { enabled: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  functionExternalModules: false,
  exportGlobalContextKeys: false,
};
