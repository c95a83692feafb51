// A download manager on the public API only: start jobs (each with its own Idempotency-Key),
// follow them all over one event stream, fall back to polling when the stream fails or
// delivers nothing in time, survive reloads through localStorage.
"use strict";

const API = "/v1/download";
const SAVED = "proxybench.downloads";
const TERMINAL = new Set(["completed", "failed", "cancelled", "expired"]);
const EVENT_TYPES = ["snapshot", "queued", "processing", "progress", "completed", "failed", "cancelled"];
// A stream that brings no event this long after opening (a buffering proxy holds it back)
// counts as failed. EventSource does not show heartbeats to scripts, so only events count.
const FIRST_EVENT_MS = 2500;
const STREAM_ERRORS_BEFORE_POLLING = 2; // EventSource reconnects by itself; after this many, poll instead
const MAX_STREAM_JOBS = 50;

const jobs = new Map(); // jobId -> {jobId, fileId, key, status, progress, channel, error, downloadUrl}
let pending = {}; // fileId -> Idempotency-Key of a start not yet answered
let stream = null; // {source, ids, timer, errors}

function save() {
  const saved = [...jobs.values()].map(({ jobId, fileId, key, status }) => ({ jobId, fileId, key, status }));
  localStorage.setItem(SAVED, JSON.stringify({ jobs: saved.slice(-MAX_STREAM_JOBS), pending }));
}

function restore() {
  try {
    const data = JSON.parse(localStorage.getItem(SAVED) || "{}");
    pending = data.pending || {};
    for (const j of data.jobs || []) {
      jobs.set(j.jobId, { ...j, progress: 0, channel: "", error: null });
    }
  } catch {
    localStorage.removeItem(SAVED);
  }
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function message(text) {
  document.getElementById("message").textContent = text || "";
}

async function startDownload(fileId) {
  // A key per file until its start is answered: a repeated click or a retried request replays.
  const key = pending[fileId] || (pending[fileId] = newKey());
  save();
  const resp = await fetch(`${API}/initiate`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": `"${key}"` },
    body: JSON.stringify({ file_ids: [fileId] }),
  });
  const body = await resp.json();
  if (!resp.ok) {
    if (resp.status !== 409) delete pending[fileId]; // 409: the same start is still in flight
    save();
    throw new Error(`${fileId}: ${body.message || resp.statusText}`);
  }
  delete pending[fileId];
  if (!jobs.has(body.jobId)) {
    jobs.set(body.jobId, { jobId: body.jobId, fileId, key, status: body.status, progress: 0, channel: "", error: null });
  }
  save();
}

async function startAll(fileIds) {
  const button = document.getElementById("start");
  button.disabled = true; // a double click starts nothing twice
  message("");
  const results = await Promise.allSettled(fileIds.map(startDownload));
  const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  message(failures.join("; "));
  button.disabled = false;
  render();
  follow();
}

function update(jobId, data) {
  const job = jobs.get(jobId);
  if (!job) return;
  if (data.status || data.state) job.status = data.status || data.state;
  if (typeof data.progress === "number") job.progress = data.progress;
  if (data.error) job.error = data.error.message || data.error.code;
  if (TERMINAL.has(job.status)) job.channel = job.channel || "stream";
  save();
  render();
}

// --- the stream: one connection for every active job -----------------------------------

function active() {
  return [...jobs.values()].filter((j) => !TERMINAL.has(j.status) && j.channel !== "polling");
}

function closeStream() {
  if (!stream) return;
  stream.source.close();
  clearTimeout(stream.timer);
  stream = null;
}

function follow() {
  const ids = active().map((j) => j.jobId).slice(0, MAX_STREAM_JOBS);
  if (stream && stream.ids.join() === ids.join()) return;
  closeStream();
  if (!ids.length) return;
  const source = new EventSource(`${API}/events?jobs=${ids.join(",")}`);
  stream = {
    source,
    ids,
    errors: 0,
    delivered: false,
    timer: setTimeout(() => fallBack(ids, "no event in time"), FIRST_EVENT_MS),
  };
  for (const id of ids) jobs.get(id).channel = "stream";
  render();
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (event) => {
      if (stream) {
        clearTimeout(stream.timer);
        stream.delivered = true;
      }
      const data = JSON.parse(event.data);
      update(data.jobId, data);
      if (!active().length) closeStream();
    });
  }
  source.onerror = () => {
    if (!stream || stream.source !== source) return;
    // A stream cut after it delivered (a proxy's total lifetime) is working: EventSource
    // resumes it with Last-Event-ID. Only a connection that brought no event counts.
    if (stream.delivered) stream.delivered = false;
    else stream.errors += 1;
    // CLOSED: a non-200 answer (a proxy's 504/524) ends EventSource for good.
    if (source.readyState === EventSource.CLOSED || stream.errors >= STREAM_ERRORS_BEFORE_POLLING) {
      fallBack(ids, "stream failed");
    }
  };
}

function fallBack(ids, why) {
  closeStream();
  for (const id of ids) {
    const job = jobs.get(id);
    if (job && !TERMINAL.has(job.status)) {
      job.channel = "polling";
      poll(id);
    }
  }
  console.info(`falling back to polling: ${why}`);
  render();
  follow(); // jobs started later still get a stream
}

// --- polling, as the server's Retry-After says ------------------------------------------

async function poll(jobId) {
  let wait = 1000;
  try {
    const resp = await fetch(`${API}/jobs/${jobId}`, { cache: "no-store" });
    if (resp.status === 404) {
      update(jobId, { status: "expired" });
      return;
    }
    const body = await resp.json();
    update(jobId, body);
    if (TERMINAL.has(body.status)) return;
    wait = Number(resp.headers.get("X-Retry-After-Ms")) || Number(resp.headers.get("Retry-After")) * 1000 || wait;
  } catch {
    // the network or a proxy failed this poll; try again after the usual wait
  }
  setTimeout(() => poll(jobId), wait);
}

// --- the table -----------------------------------------------------------------------------

function render() {
  const body = document.querySelector("#jobs tbody");
  body.replaceChildren(
    ...[...jobs.values()].map((job) => {
      const row = document.createElement("tr");
      row.dataset.jobId = job.jobId;
      row.dataset.fileId = job.fileId;
      row.dataset.status = job.status;
      row.dataset.channel = job.channel;
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = job.status === "completed" ? 100 : job.progress;
      const action = document.createElement("td");
      if (job.status === "completed") {
        const link = document.createElement("a");
        link.href = `${API}/jobs/${job.jobId}/download`;
        link.textContent = "Download";
        link.className = "download";
        action.append(link);
      } else if (["failed", "expired"].includes(job.status)) {
        const retry = document.createElement("button");
        retry.textContent = "Retry";
        retry.className = "retry";
        retry.onclick = () => {
          retry.disabled = true;
          jobs.delete(job.jobId);
          startAll([job.fileId]);
        };
        action.append(retry);
      }
      const cells = [String(job.fileId), bar, job.error ? `${job.status}: ${job.error}` : job.status, job.channel];
      row.append(...cells.map(cell), action);
      row.children[2].className = `status status-${job.status}`;
      row.children[3].className = `channel channel-${job.channel}`;
      return row;
    }),
  );
}

function cell(content) {
  const td = document.createElement("td");
  td.append(content);
  return td;
}

function parseIds(text) {
  const ids = text.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (!ids.length || ids.some((n) => !Number.isInteger(n) || n < 10000 || n > 100000000)) {
    throw new Error("Enter whole numbers between 10000 and 100000000, separated by commas");
  }
  return [...new Set(ids)];
}

document.getElementById("start-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (document.getElementById("start").disabled) return;
  try {
    startAll(parseIds(document.getElementById("file-ids").value));
  } catch (err) {
    message(err.message);
  }
});

// Resume after a reload: answer starts that were in flight, read each job's status, follow.
restore();
render();
Promise.allSettled(Object.keys(pending).map((fileId) => startDownload(Number(fileId)))).then(async () => {
  await Promise.allSettled(
    [...jobs.values()].filter((j) => !TERMINAL.has(j.status)).map(async (job) => {
      const resp = await fetch(`${API}/jobs/${job.jobId}`, { cache: "no-store" });
      if (resp.ok) update(job.jobId, await resp.json());
      else if (resp.status === 404) update(job.jobId, { status: "expired" });
    }),
  );
  render();
  follow();
});
