// A small download service in Node, as a third party might write one: a foreign target for
// the checks, sharing nothing with the reference server or naive_service.py. Its mistakes are
// on purpose, and each is one a check must name rightly:
// - POST /start sleeps through the work inside the request, so a proxy cuts it and every
//   retry runs the work again;
// - POST /jobs answers with a job id and never runs the job, and takes no idempotency key;
// - GET /status/:fileId is keyed by the file id the request sent, not the job id, and
//   answers 500 for every file it knows (a bug in the handler);
// - GET /metrics has a counter that counts nothing.
// Work per request comes from X-Delay-Ms (real milliseconds). It listens on PORT.
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");

const jobsByFile = new Map();

function send(res, status, value, type = "application/json") {
  const body = type === "application/json" ? JSON.stringify(value) : value;
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve) => {
    let text = "";
    req.on("data", (chunk) => (text += chunk));
    req.on("end", () => {
      try {
        resolve(JSON.parse(text || "{}"));
      } catch {
        resolve(null);
      }
    });
  });
}

const routes = {
  "GET /health": async (req, res) => send(res, 200, { ok: true }),
  "GET /metrics": async (req, res) =>
    send(res, 200, "# TYPE exports_started_total counter\nexports_started_total 0\n", "text/plain; version=0.0.4"),
  "POST /start": async (req, res) => {
    const body = await readJson(req);
    if (body === null || !Number.isInteger(body.fileId)) return send(res, 400, { error: "fileId must be an integer" });
    const delay = Number(req.headers["x-delay-ms"] || 1000);
    await new Promise((resolve) => setTimeout(resolve, delay));
    send(res, 200, { fileId: body.fileId, url: `/files/${body.fileId}.zip` });
  },
  "POST /jobs": async (req, res) => {
    const body = await readJson(req);
    if (body === null || !Number.isInteger(body.fileId)) return send(res, 400, { error: "fileId must be an integer" });
    const job = { jobId: crypto.randomUUID(), fileId: body.fileId, state: "queued" };
    jobsByFile.set(body.fileId, job);
    send(res, 202, { jobId: job.jobId, fileId: job.fileId });
  },
};

async function status(req, res, fileId) {
  const job = jobsByFile.get(Number(fileId));
  if (job === undefined) return send(res, 404, { error: `no job for file ${fileId}` });
  // The bug: the handler reads a field the job never had.
  try {
    send(res, 200, { state: job.result.state });
  } catch (err) {
    send(res, 500, { error: String(err.message) });
  }
}

const server = http.createServer((req, res) => {
  const path = req.url.split("?")[0];
  const route = routes[`${req.method} ${path}`];
  const statusMatch = req.method === "GET" && path.match(/^\/status\/([^/]+)$/);
  const handled = route ? route(req, res) : statusMatch ? status(req, res, statusMatch[1]) : null;
  if (handled === null) return send(res, 404, { error: "not found" });
  handled.catch((err) => send(res, 500, { error: String(err) }));
});
server.keepAliveTimeout = 65000; // above nginx's upstream keep-alive, as deployment guides advise
server.listen(Number(process.env.PORT), "127.0.0.1");
