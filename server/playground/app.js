// The playground: pick a function, type an input, see the answer, its
// label probabilities as bars, the latency and which path answered. It
// calls only this server's JSON API. With ?program=ID&demo=INPUT it runs
// one call on load (the headless browser test drives it so).
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = $("key").value.trim();
  if (key) h["X-API-Key"] = key;
  return h;
}

// api calls the server and returns the decoded body; an error carries the
// server's message.
async function api(path, body) {
  const init = body === undefined ? { headers: headers(false) } : { method: "POST", headers: headers(true), body: JSON.stringify(body) };
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = data.error;
    const msg = (e && typeof e === "object" ? e.message : data.message) || resp.statusText;
    throw new Error(resp.status + ": " + msg);
  }
  return { data, resp };
}

function showError(err) {
  $("error").textContent = err ? String(err.message || err) : "";
  $("error").hidden = !err;
  if (err) document.body.dataset.state = "error";
}

function row(dl, name, value) {
  if (value === undefined || value === null || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  dl.append(dt, dd);
}

// describe shows what the server knows about a function: its names, spec,
// contract and interpreter, and, with a registry, its owner, scope, live
// version and last test.
async function describe(id) {
  const dl = $("meta");
  dl.replaceChildren();
  if (!id) return;
  const { data } = await api("/api/v1/programs/" + encodeURIComponent(id));
  row(dl, "id", data.id);
  row(dl, "names", (data.aliases || []).join(", "));
  row(dl, "spec", data.spec);
  if (data.contract) {
    const c = data.contract;
    row(dl, "contract", c.kind + (c.labels ? ": " + c.labels.join(" | ") : ""));
  }
  row(dl, "interpreter", data.interpreter);
  row(dl, "created", data.created_at);
  row(dl, "loaded", data.loaded ? "yes" : "no");
  const reg = data.registry;
  if (!reg) return;
  row(dl, "function", reg.function);
  row(dl, "owner", reg.owner);
  row(dl, "scope", reg.scope);
  row(dl, "version", "v" + reg.version + (reg.live_version ? " (live: v" + reg.live_version + ")" : " (none live)") +
    (reg.retired ? ", retired" : "") + (reg.expired ? ", expired" : ""));
  const t = reg.last_test;
  row(dl, "last test", !t ? "never tested" : (t.passed ? "passed" : "failed") +
    (t.accuracy !== undefined ? ", accuracy " + (100 * t.accuracy).toFixed(1) + "%" : "") +
    (t.n ? " on " + t.n + " cases" : "") + ", " + t.at);
}

function bars(probs, output) {
  const box = $("bars");
  box.replaceChildren();
  const entries = Object.entries(probs || {}).sort((a, b) => b[1] - a[1]);
  for (const [label, p] of entries) {
    const r = document.createElement("div");
    r.className = "bar-row" + (label === output ? " chosen" : "");
    r.dataset.label = label;
    r.dataset.p = String(p);
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    const track = document.createElement("div");
    track.className = "track";
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = (100 * p).toFixed(1) + "%";
    track.append(bar);
    const num = document.createElement("span");
    num.className = "p";
    num.textContent = p.toFixed(3);
    r.append(name, track, num);
    box.append(r);
  }
}

async function run(event) {
  if (event) event.preventDefault();
  showError(null);
  document.body.dataset.state = "running";
  $("run").disabled = true;
  try {
    const { data, resp } = await api("/api/v1/infer", { program_id: $("program").value, input: $("input").value });
    $("output").textContent = data.output;
    const path = resp.headers.get("X-Paw-Path") || data.path;
    $("path").textContent = path;
    $("path").className = "path " + path;
    $("latency").textContent = data.latency_ms.toFixed(1) + " ms, " + data.tokens_generated + " tokens";
    bars(data.probs, data.output);
    $("confidence").textContent = data.probs ? "" :
      "confidence exp(logprob_min) = " + Math.exp(data.logprob_min || 0).toFixed(3);
    $("result").hidden = false;
    document.body.dataset.state = "done";
  } catch (err) {
    showError(err);
  } finally {
    $("run").disabled = false;
  }
}

// load lists the functions, then runs the demo call if asked.
async function load() {
  showError(null);
  try {
    const { data } = await api("/v1/models");
    const sel = $("program");
    sel.replaceChildren();
    for (const m of data.data) {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = (m.aliases && m.aliases.length ? m.aliases[0] : m.id) + (m.loaded ? "" : " (not loaded)");
      sel.append(o);
    }
    const want = params.get("program");
    if (want) {
      const found = data.data.find((m) => m.id === want || (m.aliases || []).includes(want));
      if (found) sel.value = found.id;
    }
    await describe(sel.value);
    document.body.dataset.state = "ready";
    if (params.has("demo")) {
      $("input").value = params.get("demo");
      await run();
    }
  } catch (err) {
    showError(err);
  }
}

$("key").value = sessionStorage.getItem("paw-key") || "";
$("key").onchange = () => {
  sessionStorage.setItem("paw-key", $("key").value.trim());
  load();
};
$("keyform").onsubmit = (e) => e.preventDefault(); // Enter fires change
$("form").onsubmit = run;
$("program").onchange = () => describe($("program").value).catch(showError);
load();
