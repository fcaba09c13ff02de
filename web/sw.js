// edgecite service worker: keeps the app and the last data seen readable offline.
// Network first; every good GET answer is kept with the time it was fetched. When the
// gateway cannot be reached, the cached answer is served with X-Edgecite-Offline: 1 and
// X-Edgecite-Cached-At: <ms>, and the page shows "offline, data from HH:MM (age)".
// A 304 (the page asked with the ETag of data it holds) is passed through, never cached.
// Writes are not handled here: the page queues them in IndexedDB and sends them itself.
"use strict";
var CACHE = "edgecite-v2";
var SHELL = ["/", "/app.js", "/manifest.webmanifest", "/icon.svg", "/icon-192.png"];

self.addEventListener("install", function (e) {
  e.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(SHELL); }).then(function () { return self.skipWaiting(); }));
});
self.addEventListener("activate", function (e) {
  e.waitUntil(caches.keys().then(function (ks) {
    return Promise.all(ks.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});
// On logout the page asks to forget the data of the session.
self.addEventListener("message", function (e) {
  if (e.data === "clear") {
    caches.open(CACHE).then(function (c) {
      return c.keys().then(function (ks) {
        return Promise.all(ks.filter(function (r) { return new URL(r.url).pathname.indexOf("/api/") === 0; }).map(function (r) { return c.delete(r); }));
      });
    });
  }
});

function stamp(r) {
  return r.clone().blob().then(function (b) {
    var h = new Headers(r.headers);
    h.set("X-Edgecite-Cached-At", String(Date.now()));
    return new Response(b, { status: r.status, statusText: r.statusText, headers: h });
  });
}
function offline(r) {
  return r.blob().then(function (b) {
    var h = new Headers(r.headers);
    h.set("X-Edgecite-Offline", "1");
    return new Response(b, { status: r.status, statusText: r.statusText, headers: h });
  });
}

self.addEventListener("fetch", function (e) {
  var req = e.request, url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/api/v1/live" || url.pathname === "/sw.js") return; // event stream; the worker itself
  var key = req.mode === "navigate" ? "/" : url.pathname + url.search;
  e.respondWith(fetch(req).then(function (r) {
    if (r.ok) {
      var copy = stamp(r);
      e.waitUntil(copy.then(function (s) { return caches.open(CACHE).then(function (c) { return c.put(key, s); }); }));
    }
    return r;
  }, function (err) {
    return caches.open(CACHE).then(function (c) { return c.match(key); }).then(function (hit) {
      if (!hit) throw err;
      return offline(hit);
    });
  }));
});
