// A download manager on the public API only: start jobs (each with its own Idempotency-Key),
// follow them, fall back to polling when a stream fails or delivers nothing in time, survive
// reloads through localStorage.
//
// Over HTTP/1.1 a browser opens at most 6 connections per origin, shared by every tab of the
// site, and a held event stream keeps one: a seventh stream, and every request queued behind
// it, waits with no error. So by default the tabs of a browser hold one stream between them.
// The tab holding the Web Lock below leads: it streams every tab's jobs and passes the events
// on over a BroadcastChannel. When it closes, its lock passes to another tab, which resumes
// the stream from the last event each job had.
//
// `?channel=` picks another way for a tab to follow its own jobs, for measurement:
// hybrid (its own stream, polling when it fails), sse (its own stream only), polling,
// longpoll, websocket.
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
const LEAD_SETTLE_MS = 50; // a new leader's wait for tabs starting together, before it opens the stream
// A long poll asks for more than any server holds; the server caps it (Preference-Applied).
const LONGPOLL_WAIT_S = 60;
const RETRY_MS = 1000;
const LEADER_LOCK = "proxybench.stream-leader";
const BUS = "proxybench.stream";
const CHANNELS = ["shared", "hybrid", "sse", "polling", "longpoll", "websocket"];
const SHARING = "locks" in navigator && "BroadcastChannel" in window;
const ASKED = new URLSearchParams(location.search).get("channel");
const CHANNEL = CHANNELS.includes(ASKED) && (ASKED !== "shared" || SHARING) ? ASKED : SHARING ? "shared" : "hybrid";

// jobId -> {jobId, fileId, key, status, progress, channel, error, seq, clickedAt, firstEventMs, knownMs}
const jobs = new Map();
let pending = {}; // fileId -> Idempotency-Key of a start not yet answered
let stream = null; // {source, ids, timer, errors, delivered}: this tab's event stream or socket

function save() {
  const saved = [...jobs.values()].map(({ jobId, fileId, key, status, seq }) => ({ jobId, fileId, key, status, seq }));
  localStorage.setItem(SAVED, JSON.stringify({ jobs: saved.slice(-MAX_STREAM_JOBS), pending }));
}

function restore() {
  try {
    const data = JSON.parse(localStorage.getItem(SAVED) || "{}");
    pending = data.pending || {};
    for (const j of data.jobs || []) {
      jobs.set(j.jobId, { ...j, seq: j.seq || 0, progress: 0, channel: "", error: null });
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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startDownload(fileId, clickedAt) {
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
    jobs.set(body.jobId, {
      jobId: body.jobId, fileId, key, status: body.status, progress: 0, channel: "", error: null, seq: 0, clickedAt,
    }); // prettier-ignore
  }
  save();
}

async function startAll(fileIds) {
  const clickedAt = performance.now();
  const button = document.getElementById("start");
  button.disabled = true; // a double click starts nothing twice
  message("");
  const results = await Promise.allSettled(fileIds.map((id) => startDownload(id, clickedAt)));
  const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  message(failures.join("; "));
  button.disabled = false;
  render();
  follow();
}

// What a channel heard about a job; `seq` is the job's own place in its event log (0: unknown).
function update(jobId, data, seq = 0, channel = "") {
  const job = jobs.get(jobId);
  if (!job) return;
  if (job.clickedAt !== undefined && job.firstEventMs === undefined) {
    job.firstEventMs = Math.round(performance.now() - job.clickedAt);
  }
  if (data.status || data.state) job.status = data.status || data.state;
  if (job.clickedAt !== undefined && job.knownMs === undefined && TERMINAL.has(job.status)) {
    job.knownMs = Math.round(performance.now() - job.clickedAt);
  }
  if (typeof data.progress === "number") job.progress = data.progress;
  if (data.error) job.error = data.error.message || data.error.code;
  job.seq = Math.max(job.seq, seq);
  if (channel && !(job.channel === "polling" && channel !== "polling")) job.channel = channel;
  save();
  render();
}

function active() {
  return [...jobs.values()].filter((j) => !TERMINAL.has(j.status) && j.channel !== "polling");
}

function follow() {
  const ids = active().map((j) => j.jobId);
  if (CHANNEL === "polling" || CHANNEL === "longpoll") {
    for (const id of ids) watch(id, CHANNEL === "longpoll");
  } else if (CHANNEL === "shared") {
    announce();
    if (leading) lead();
  } else {
    openStream(ids.slice(0, MAX_STREAM_JOBS), new Map(ids.map((id) => [id, jobs.get(id).seq])));
  }
}

// --- one stream (or socket) for a set of jobs --------------------------------------------

function closeStream() {
  if (!stream) return;
  stream.source.close();
  clearTimeout(stream.timer);
  stream = null;
}

// `seqs`: jobId -> the last event seen of it, so that a new stream resumes where the last left off.
function openStream(ids, seqs) {
  if (stream && stream.ids.join() === ids.join()) return;
  closeStream();
  if (!ids.length) return;
  const query = new URLSearchParams({ jobs: ids.join(",") });
  if (ids.some((id) => seqs.get(id) > 0)) query.set("lastEventId", ids.map((id) => seqs.get(id) || 0).join("."));
  const socket = CHANNEL === "websocket";
  const source = socket ? new WebSocket(socketUrl(query)) : new EventSource(`${API}/events?${query}`);
  stream = { source, ids, seqs, errors: 0, delivered: false, timer: null };
  if (CHANNEL !== "sse" && !socket) stream.timer = setTimeout(() => fallBack(ids, "no event in time"), FIRST_EVENT_MS);
  const heard = (cursor, data) => {
    if (stream && stream.source === source) {
      clearTimeout(stream.timer);
      stream.delivered = true;
    }
    const seq = Number(cursor.split(".")[ids.indexOf(data.jobId)]) || 0;
    seqs.set(data.jobId, seq);
    deliver(data.jobId, data, seq, socket ? "websocket" : "stream");
    if (!ids.some((id) => !ended(id))) closeStream();
  };
  if (socket) {
    source.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      heard(msg.id, msg.data);
    };
    // Closed before every job ended (a proxy's limit): connect again, resuming.
    source.onclose = () => {
      if (!stream || stream.source !== source) return;
      const again = stream.delivered ? 0 : RETRY_MS;
      stream = null;
      setTimeout(follow, again);
    };
    return;
  }
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (event) => heard(event.lastEventId, JSON.parse(event.data)));
  }
  source.onerror = () => {
    if (!stream || stream.source !== source || CHANNEL === "sse") return;
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

function socketUrl(query) {
  const url = new URL(`${API}/ws?${query}`, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

function fallBack(ids, why) {
  closeStream();
  const mine = ids.filter((id) => jobs.has(id));
  for (const id of mine) {
    const job = jobs.get(id);
    if (!TERMINAL.has(job.status)) {
      job.channel = "polling";
      watch(id, false);
    }
  }
  if (CHANNEL === "shared") {
    bus.postMessage({ type: "fallback", ids });
    for (const id of ids) followed.delete(id);
  }
  console.info(`falling back to polling: ${why}`);
  render();
  follow(); // jobs started later still get a stream
}

// --- the shared stream: one per browser, held by the leading tab ------------------------

const bus = SHARING ? new BroadcastChannel(BUS) : null;
let leading = false;
const followed = new Map(); // the leader's: every tab's active jobId -> the last seq seen of it

function ended(jobId) {
  const job = jobs.get(jobId);
  return job ? TERMINAL.has(job.status) : !followed.has(jobId);
}

function deliver(jobId, data, seq, channel) {
  update(jobId, data, seq, channel);
  if (CHANNEL !== "shared") return;
  bus.postMessage({ type: "event", jobId, data, seq });
  if (TERMINAL.has(data.status || data.state)) followed.delete(jobId);
  else if (followed.has(jobId)) followed.set(jobId, Math.max(followed.get(jobId), seq));
}

function announce() {
  if (!bus) return;
  const mine = active().map((j) => [j.jobId, j.seq]);
  if (leading) adopt(mine);
  else if (mine.length) bus.postMessage({ type: "follow", jobs: mine });
}

function adopt(entries) {
  for (const [id, seq] of entries) followed.set(id, Math.max(followed.get(id) || 0, seq));
}

let leadTimer = null;
// Tabs starting together would each reopen the stream: wait a moment for the set to settle.
function lead() {
  clearTimeout(leadTimer);
  leadTimer = setTimeout(() => {
    const ids = [...followed.keys()].slice(0, MAX_STREAM_JOBS);
    openStream(ids, new Map(followed));
  }, LEAD_SETTLE_MS);
}

if (bus) {
  bus.onmessage = ({ data: msg }) => {
    if (msg.type === "event") {
      update(msg.jobId, msg.data, msg.seq, "stream");
      if (TERMINAL.has(msg.data.status || msg.data.state)) followed.delete(msg.jobId);
    } else if (msg.type === "follow" && leading) {
      adopt(msg.jobs);
      lead();
    } else if (msg.type === "leader") {
      announce(); // a new leader asks who follows what
    } else if (msg.type === "fallback") {
      const mine = msg.ids.filter((id) => jobs.has(id) && !TERMINAL.has(jobs.get(id).status));
      for (const id of mine) {
        jobs.get(id).channel = "polling";
        watch(id, false);
      }
      render();
    }
  };
}

function contend() {
  // Granted when no other tab of this browser holds it: then this tab leads until it closes,
  // and the browser passes the lock to the next tab waiting for it.
  navigator.locks.request(LEADER_LOCK, () => {
    leading = true;
    document.documentElement.dataset.leader = "true";
    announce();
    bus.postMessage({ type: "leader" });
    lead();
    return new Promise(() => {});
  });
}

// --- polling and long polling, one job each ----------------------------------------------

const watched = new Set();

async function watch(jobId, long) {
  if (watched.has(jobId)) return;
  watched.add(jobId);
  const channel = long ? "longpoll" : "polling";
  let tag = null;
  for (;;) {
    let wait = RETRY_MS;
    try {
      const query = long ? `?wait=${LONGPOLL_WAIT_S}` : "";
      const headers = long && tag ? { "If-None-Match": tag } : {};
      const resp = await fetch(`${API}/jobs/${jobId}${query}`, { cache: "no-store", headers });
      if (resp.status === 404) {
        update(jobId, { status: "expired" }, 0, channel);
        break;
      }
      if (resp.status === 200) {
        tag = resp.headers.get("ETag");
        const body = await resp.json();
        update(jobId, body, 0, channel);
        if (TERMINAL.has(body.status)) break;
      }
      if (long && (resp.status === 200 || resp.status === 304)) wait = 0;
      else if (resp.ok) {
        wait = Number(resp.headers.get("X-Retry-After-Ms")) || Number(resp.headers.get("Retry-After")) * 1000 || wait;
      }
    } catch {
      // the network or a proxy failed this request; try again after the usual wait
    }
    await sleep(wait);
  }
  watched.delete(jobId);
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
      // For measurement: when the tab's click was (ms since the epoch), and from it to the first
      // thing the tab heard of the job and to when it heard the job had ended.
      if (job.clickedAt !== undefined) row.dataset.clickedAt = Math.round(performance.timeOrigin + job.clickedAt);
      if (job.firstEventMs !== undefined) row.dataset.firstEventMs = job.firstEventMs;
      if (job.knownMs !== undefined) row.dataset.knownMs = job.knownMs;
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
document.documentElement.dataset.channel = CHANNEL;
restore();
render();
if (CHANNEL === "shared") contend();
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
