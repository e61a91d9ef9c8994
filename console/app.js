// app.js -- the hydrant console: plain JavaScript, no framework, no CDN.
//
// Every API call goes through the console's backend (POST api/call with the
// CSRF token), which signs it with the signed-in session's credentials and
// sends it to this server: the console can do exactly what those
// credentials can do through boto3, nothing more. Pages are routed by the
// URL's hash; all text is put in with textContent (never innerHTML).
"use strict";

const API = "api/";
let csrf = null, who = null, timer = null;

// ---- DOM helpers ------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false)
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
const main = () => document.getElementById("main");
function show(...kids) { const m = main(); m.replaceChildren(...kids); return m; }
function errorBox(e) { return h("p", { class: "error", id: "error" }, String(e && e.message || e)); }
function fmtBytes(n) {
  n = Number(n);
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"]; let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(1) + " " + u[i];
}
function copyButton(id, text) {
  const note = h("span", { class: "copied", id: id + "-copied" });
  const b = h("button", { class: "secondary", id, on: { click: async () => {
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
      const t = h("textarea", {}, text); document.body.append(t); t.select();
      try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
      t.remove();
    }
    b.dataset.copied = text;
    note.textContent = ok ? "Copied" : "Select and copy: " + text;
  } } }, "Copy");
  return [b, note];
}

// ---- the backend ------------------------------------------------------------------------
async function call(service, method, path, opt) {
  opt = opt || {};
  const r = await fetch(API + "call", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || "" },
    body: JSON.stringify({ service, method, path, query: opt.query || "",
                           target: opt.target || "", contentType: opt.contentType || "",
                           body: opt.body || "" }) });
  const j = await r.json();
  if (!r.ok) {
    if (r.status === 401) { csrf = null; location.hash = "#/login"; }
    throw new Error(j.message || j.error || ("HTTP " + r.status));
  }
  return j;
}
function xml(text) { return new DOMParser().parseFromString(text || "<x/>", "application/xml"); }
function xerr(doc) {
  const c = doc.querySelector("Error > Code"), m = doc.querySelector("Error > Message");
  return c ? new Error(c.textContent + ": " + (m ? m.textContent : "")) : null;
}
const txt = (node, sel) => { const n = node.querySelector(sel); return n ? n.textContent : ""; };

async function firehose(op, params) {
  const r = await call("firehose", "POST", "/", { target: "Firehose_20150804." + op,
    contentType: "application/x-amz-json-1.1", body: JSON.stringify(params || {}) });
  const j = r.body ? JSON.parse(r.body) : {};
  if (r.status !== 200) throw new Error((j.__type || "Error") + ": " + (j.message || ""));
  return j;
}
function form(params) {
  return Object.entries(params).map(([k, v]) => encodeURIComponent(k) + "=" +
                                    encodeURIComponent(v)).join("&");
}
async function query(service, version, action, params) {
  const r = await call(service, "POST", "/", { contentType: "application/x-www-form-urlencoded",
    body: form(Object.assign({ Action: action, Version: version }, params || {})) });
  const doc = xml(r.body);
  const e = xerr(doc);
  if (e || r.status !== 200) throw e || new Error("HTTP " + r.status);
  return doc;
}
const iam = (a, p) => query("iam", "2010-05-08", a, p);
const cw = (a, p) => query("monitoring", "2010-08-01", a, p);
function s3path(bucket, key) {
  return "/" + bucket + (key !== undefined ? "/" + key.split("/").map(encodeURIComponent).join("/") : "");
}
async function s3(method, path, q) {
  const r = await call("s3", method, path, { query: q || "" });
  if (r.status >= 300 && method !== "HEAD") {
    const e = xerr(xml(r.body));
    throw e || new Error("HTTP " + r.status);
  }
  if (r.status >= 300) throw new Error("HTTP " + r.status);
  return r;
}

// ---- sign-in -----------------------------------------------------------------------------
function loginPage(msg) {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  const f = h("form", { class: "grid", id: "login-form" },
    h("label", { for: "access_key" }, "Access key ID"),
    h("input", { id: "access_key", name: "access_key", autocomplete: "username" }),
    h("label", { for: "secret" }, "Secret access key"),
    h("input", { id: "secret", name: "secret", type: "password", autocomplete: "current-password" }),
    h("span"), h("button", { type: "submit", id: "signin" }, "Sign in"));
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await fetch(API + "login", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form({ access_key: f.access_key.value, secret: f.secret.value }) });
    const j = await r.json();
    if (!r.ok) { loginPage(j.message || "Sign-in failed"); return; }
    signedIn(j);
    location.hash = "#/";
    route();
  });
  show(h("div", { class: "card login" }, h("h1", {}, "Sign in to hydrant"),
    h("p", { class: "muted" }, "With an access key and its secret, as for the AWS CLI."),
    msg ? h("p", { class: "error", id: "error" }, msg) : null, f));
}
function signedIn(j) {
  csrf = j.csrf; who = j;
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  document.getElementById("who").textContent = j.accessKeyId + " · account " + j.account + " · " + j.region;
}

// ---- home ----------------------------------------------------------------------------------
function home() {
  show(h("h1", {}, "hydrant console"),
    h("div", { class: "card" }, h("h2", {}, h("a", { href: "#/iam/roles" }, "IAM")),
      h("p", {}, "Roles that delivery streams assume; each role's ARN.")),
    h("div", { class: "card" }, h("h2", {}, h("a", { href: "#/s3" }, "S3")),
      h("p", {}, "Buckets, the YYYY/MM/DD/HH/ folders delivery writes, objects and their first rows.")),
    h("div", { class: "card" }, h("h2", {}, h("a", { href: "#/firehose" }, "Firehose")),
      h("p", {}, "Delivery streams: create, describe, delete; live incoming records and freshness.")));
}

// ---- IAM -------------------------------------------------------------------------------------
async function rolesPage() {
  const doc = await iam("ListRoles", { MaxItems: "1000" });
  const rows = [...doc.querySelectorAll("Roles > member")].map((m) => h("tr", {},
    h("td", {}, h("a", { href: "#/iam/roles/" + encodeURIComponent(txt(m, "RoleName")),
                         class: "role-link" }, txt(m, "RoleName"))),
    h("td", { class: "muted" }, txt(m, "Arn")), h("td", {}, txt(m, "CreateDate"))));
  show(h("div", { class: "crumbs" }, "IAM › Roles"), h("h1", {}, "Roles"),
    h("div", { class: "card" }, rows.length ? h("table", { id: "roles" },
      h("tr", {}, h("th", {}, "Role name"), h("th", {}, "ARN"), h("th", {}, "Created")), rows)
      : h("p", { class: "muted" }, "No roles yet (aws iam create-role).")));
}
async function rolePage(name) {
  const doc = await iam("GetRole", { RoleName: name });
  const arn = txt(doc, "Role > Arn");
  let trust = txt(doc, "Role > AssumeRolePolicyDocument");
  try { trust = JSON.stringify(JSON.parse(decodeURIComponent(trust)), null, 2); } catch (e) { /* as is */ }
  const pol = await iam("ListRolePolicies", { RoleName: name }).catch(() => null);
  const att = await iam("ListAttachedRolePolicies", { RoleName: name }).catch(() => null);
  show(h("div", { class: "crumbs" }, h("a", { href: "#/iam/roles" }, "IAM › Roles"), " › ", name),
    h("h1", {}, name),
    h("div", { class: "arn" }, h("span", {}, "ARN"), h("code", { id: "role-arn" }, arn),
      copyButton("copy-arn", arn)),
    h("div", { class: "card" }, h("h2", {}, "Summary"), h("div", { class: "kv" },
      h("div", {}, "Created"), h("div", {}, txt(doc, "Role > CreateDate")),
      h("div", {}, "Description"), h("div", {}, txt(doc, "Role > Description") || "—"),
      h("div", {}, "Inline policies"), h("div", {}, pol ? [...pol.querySelectorAll("PolicyNames > member")].map((m) => m.textContent).join(", ") || "—" : "—"),
      h("div", {}, "Attached policies"), h("div", {}, att ? [...att.querySelectorAll("AttachedPolicies > member PolicyName")].map((m) => m.textContent).join(", ") || "—" : "—"))),
    h("div", { class: "card" }, h("h2", {}, "Trust relationship"), h("pre", { class: "preview" }, trust)));
}

// ---- S3 ----------------------------------------------------------------------------------------
async function bucketsPage() {
  const doc = xml((await s3("GET", "/")).body);
  const rows = [...doc.querySelectorAll("Buckets > Bucket")].map((b) => h("tr", {},
    h("td", {}, h("a", { href: "#/s3/" + txt(b, "Name") + "/", class: "bucket-link" }, txt(b, "Name"))),
    h("td", {}, txt(b, "CreationDate"))));
  show(h("div", { class: "crumbs" }, "S3 › Buckets"), h("h1", {}, "Buckets"),
    h("div", { class: "card" }, h("table", { id: "buckets" },
      h("tr", {}, h("th", {}, "Name"), h("th", {}, "Created")), rows)));
}
async function browsePage(bucket, prefix) {
  const q = "list-type=2&delimiter=%2F&max-keys=1000&prefix=" + encodeURIComponent(prefix);
  const doc = xml((await s3("GET", s3path(bucket), q)).body);
  const crumbs = [h("a", { href: "#/s3" }, "S3"), " › ", h("a", { href: "#/s3/" + bucket + "/" }, bucket)];
  let acc = "";
  for (const part of prefix.split("/").filter(Boolean)) {
    acc += part + "/";
    crumbs.push(" › ", h("a", { href: "#/s3/" + bucket + "/" + acc.split("/").map(encodeURIComponent).join("/") }, part));
  }
  const folders = [...doc.querySelectorAll("CommonPrefixes > Prefix")].map((p) => h("tr", {},
    h("td", {}, h("a", { class: "folder", href: "#/s3/" + bucket + "/" + p.textContent.split("/").map(encodeURIComponent).join("/") },
      p.textContent.slice(prefix.length))), h("td", { class: "muted" }, "folder"), h("td")));
  const objects = [...doc.querySelectorAll("Contents")].map((c) => h("tr", {},
    h("td", {}, h("a", { class: "object", href: "#/s3obj/" + bucket + "/" + encodeURIComponent(txt(c, "Key")) },
      txt(c, "Key").slice(prefix.length))),
    h("td", {}, fmtBytes(txt(c, "Size"))), h("td", {}, txt(c, "LastModified"))));
  show(h("div", { class: "crumbs" }, crumbs), h("h1", {}, bucket + (prefix ? " / " + prefix : "")),
    h("div", { class: "card" }, folders.length + objects.length ? h("table", { id: "listing" },
      h("tr", {}, h("th", {}, "Name"), h("th", {}, "Size"), h("th", {}, "Last modified")), folders, objects)
      : h("p", { class: "muted" }, "Nothing here yet.")));
}
function b64bytes(b64) { const s = atob(b64); const u = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return u; }
function previewOf(r) {
  if (r.base64 !== undefined) {
    const u = b64bytes(r.base64);
    if (u[0] === 0x1f && u[1] === 0x8b) return h("p", { class: "muted" }, "gzip-compressed: download to read it.");
    return h("p", { class: "muted" }, "Binary content (" + u.length + " bytes): download it.");
  }
  const lines = (r.body || "").split("\n").filter((l) => l.length).slice(0, 20);
  const rows = [];
  for (const l of lines) { try { const o = JSON.parse(l); if (o && typeof o === "object" && !Array.isArray(o)) rows.push(o); else break; } catch (e) { break; } }
  if (rows.length === lines.length && rows.length) {
    const cols = [...new Set(rows.flatMap((o) => Object.keys(o)))].slice(0, 12);
    return h("table", { id: "preview-table" }, h("tr", {}, cols.map((c) => h("th", {}, c))),
      rows.map((o) => h("tr", {}, cols.map((c) => h("td", {}, o[c] === undefined ? "" : typeof o[c] === "object" ? JSON.stringify(o[c]) : String(o[c]))))));
  }
  return h("pre", { class: "preview", id: "preview-text" }, lines.join("\n"));
}
async function objectPage(bucket, key) {
  const head = await s3("HEAD", s3path(bucket, key));
  const size = Number(head.headers["content-length"] || 0);
  let preview = h("p", { class: "muted" }, "Too large to preview (" + fmtBytes(size) + ").");
  if (size <= (4 << 20)) preview = previewOf(await s3("GET", s3path(bucket, key)));
  const dl = API + "download?bucket=" + encodeURIComponent(bucket) + "&key=" + encodeURIComponent(key);
  const dir = key.includes("/") ? key.slice(0, key.lastIndexOf("/") + 1) : "";
  show(h("div", { class: "crumbs" }, h("a", { href: "#/s3" }, "S3"), " › ",
      h("a", { href: "#/s3/" + bucket + "/" + dir.split("/").map(encodeURIComponent).join("/") }, bucket + "/" + dir)),
    h("h1", {}, key.slice(dir.length)),
    h("div", { class: "arn" }, h("span", {}, "Key"), h("code", { id: "object-key" }, key), copyButton("copy-key", key)),
    h("div", { class: "card" }, h("div", { class: "kv" },
      h("div", {}, "Bucket"), h("div", {}, bucket),
      h("div", {}, "Size"), h("div", { id: "object-size" }, size + " bytes (" + fmtBytes(size) + ")"),
      h("div", {}, "ETag"), h("div", { id: "object-etag" }, head.headers.etag || ""),
      h("div", {}, "Last modified"), h("div", {}, head.headers["last-modified"] || ""),
      h("div", {}, "Content type"), h("div", {}, head.headers["content-type"] || "")),
      h("p", {}, h("a", { class: "button", id: "download", href: dl }, "Download"))),
    h("div", { class: "card" }, h("h2", {}, "Preview (first rows)"), preview));
}

// ---- Firehose -------------------------------------------------------------------------------------
async function streamsPage() {
  const names = (await firehose("ListDeliveryStreams", { Limit: 100 })).DeliveryStreamNames || [];
  const rows = [];
  for (const n of names) {
    const d = (await firehose("DescribeDeliveryStream", { DeliveryStreamName: n })).DeliveryStreamDescription;
    const del = h("button", { class: "danger", "data-stream": n, on: { click: async (ev) => {
      const b = ev.target;
      if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Confirm delete"; return; }
      await firehose("DeleteDeliveryStream", { DeliveryStreamName: n }); route();
    } } }, "Delete");
    rows.push(h("tr", {}, h("td", {}, h("a", { href: "#/firehose/" + encodeURIComponent(n), class: "stream-link" }, n)),
      h("td", {}, h("span", { class: "badge" + (d.DeliveryStreamStatus === "ACTIVE" ? " ok" : "") }, d.DeliveryStreamStatus)),
      h("td", {}, d.DeliveryStreamType), h("td", {}, del)));
  }
  let buckets = [], roles = [];
  try { buckets = [...xml((await s3("GET", "/")).body).querySelectorAll("Buckets > Bucket > Name")].map((n) => n.textContent); } catch (e) { /* none */ }
  try { roles = [...(await iam("ListRoles", {})).querySelectorAll("Roles > member > Arn")].map((n) => n.textContent); } catch (e) { /* none */ }
  const f = h("form", { class: "grid", id: "create-form" },
    h("label", { for: "f-name" }, "Delivery stream name"), h("input", { id: "f-name", required: true, placeholder: "gps-delivery-stream" }),
    h("label", {}, "Source"), h("div", {}, "Direct PUT"),
    h("label", { for: "f-bucket" }, "S3 bucket"), h("select", { id: "f-bucket" }, buckets.map((b) => h("option", { value: b }, b))),
    h("label", { for: "f-role" }, "IAM role"), h("select", { id: "f-role" }, roles.map((r) => h("option", { value: r }, r))),
    h("label", { for: "f-prefix" }, "S3 bucket prefix"), h("input", { id: "f-prefix", placeholder: "(default: YYYY/MM/DD/HH/)" }),
    h("label", { for: "f-size" }, "Buffer size (MiB)"), h("input", { id: "f-size", type: "number", min: 1, max: 128, value: 1 }),
    h("label", { for: "f-interval" }, "Buffer interval (seconds)"), h("input", { id: "f-interval", type: "number", min: 0, max: 900, value: 60 }),
    h("label", { for: "f-comp" }, "Compression"), h("select", { id: "f-comp" }, ["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"].map((c) => h("option", { value: c }, c))),
    h("span"), h("button", { type: "submit", id: "create" }, "Create delivery stream"));
  const msg = h("p", { id: "create-msg" });
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const dest = { RoleARN: f.querySelector("#f-role").value, BucketARN: "arn:aws:s3:::" + f.querySelector("#f-bucket").value,
      BufferingHints: { SizeInMBs: Number(f.querySelector("#f-size").value), IntervalInSeconds: Number(f.querySelector("#f-interval").value) },
      CompressionFormat: f.querySelector("#f-comp").value };
    if (f.querySelector("#f-prefix").value) dest.Prefix = f.querySelector("#f-prefix").value;
    try {
      await firehose("CreateDeliveryStream", { DeliveryStreamName: f.querySelector("#f-name").value,
        DeliveryStreamType: "DirectPut", ExtendedS3DestinationConfiguration: dest });
      location.hash = "#/firehose/" + encodeURIComponent(f.querySelector("#f-name").value);
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  });
  show(h("div", { class: "crumbs" }, "Firehose › Delivery streams"), h("h1", {}, "Delivery streams"),
    h("div", { class: "card" }, rows.length ? h("table", { id: "streams" },
      h("tr", {}, h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "Source"), h("th")), rows)
      : h("p", { class: "muted" }, "No delivery streams yet.")),
    h("div", { class: "card" }, h("h2", {}, "Create delivery stream"), f, msg));
}

function drawChart(canvas, points, color) {
  const w = canvas.width = canvas.clientWidth * (window.devicePixelRatio || 1);
  const hh = canvas.height = canvas.clientHeight * (window.devicePixelRatio || 1);
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, hh);
  const max = Math.max(1e-9, ...points.map((p) => p[1]));
  const now = Date.now(), span = 30 * 60 * 1000;
  g.strokeStyle = "#eaeded";
  for (let i = 1; i < 4; i++) { g.beginPath(); g.moveTo(0, hh * i / 4); g.lineTo(w, hh * i / 4); g.stroke(); }
  g.fillStyle = color;
  const bw = Math.max(2, w / 30 - 2);
  for (const [t, v] of points) {
    const x = (t - (now - span)) / span * w;
    const bh = v / max * (hh - 10);
    g.fillRect(x, hh - bh, bw, bh);
  }
  g.fillStyle = "#545b64"; g.font = (11 * (window.devicePixelRatio || 1)) + "px system-ui";
  g.fillText("max " + (max >= 100 ? max.toFixed(0) : max.toPrecision(3)), 4, 12 * (window.devicePixelRatio || 1));
}
async function metric(name, stat, stream) {
  const end = new Date(Date.now() + 60000), start = new Date(Date.now() - 30 * 60000);
  const doc = await cw("GetMetricData", {
    "MetricDataQueries.member.1.Id": "m", "MetricDataQueries.member.1.MetricStat.Metric.Namespace": "AWS/Firehose",
    "MetricDataQueries.member.1.MetricStat.Metric.MetricName": name,
    "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name": "DeliveryStreamName",
    "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value": stream,
    "MetricDataQueries.member.1.MetricStat.Period": "60", "MetricDataQueries.member.1.MetricStat.Stat": stat,
    StartTime: start.toISOString(), EndTime: end.toISOString(), ScanBy: "TimestampAscending" });
  const ts = [...doc.querySelectorAll("Timestamps > member")].map((n) => Date.parse(n.textContent));
  const vs = [...doc.querySelectorAll("Values > member")].map((n) => Number(n.textContent));
  return ts.map((t, i) => [t, vs[i]]);
}
function chartCard(id, title, unit) {
  return h("div", { class: "card chart", id }, h("h2", {}, title),
    h("div", { class: "now", id: id + "-now" }, "—"), h("canvas", { id: id + "-canvas" }),
    h("div", { class: "muted", id: id + "-total" }, unit));
}
function staticPrefix(p) { const i = (p || "").indexOf("!{"); return i < 0 ? (p || "") : p.slice(0, i); }
async function streamPage(name) {
  const d = (await firehose("DescribeDeliveryStream", { DeliveryStreamName: name })).DeliveryStreamDescription;
  const dest = (d.Destinations[0] || {}).ExtendedS3DestinationDescription || (d.Destinations[0] || {}).S3DestinationDescription || {};
  const bucket = (dest.BucketARN || "").replace("arn:aws:s3:::", "");
  const hints = dest.BufferingHints || {};
  show(h("div", { class: "crumbs" }, h("a", { href: "#/firehose" }, "Firehose"), " › ", name),
    h("h1", {}, name, " ", h("span", { class: "badge" + (d.DeliveryStreamStatus === "ACTIVE" ? " ok" : ""), id: "stream-status" }, d.DeliveryStreamStatus)),
    h("div", { class: "arn" }, h("span", {}, "ARN"), h("code", { id: "stream-arn" }, d.DeliveryStreamARN), copyButton("copy-stream-arn", d.DeliveryStreamARN)),
    h("div", { class: "card" }, h("div", { class: "kv" },
      h("div", {}, "Destination"), h("div", {}, h("a", { href: "#/s3/" + bucket + "/" }, "s3://" + bucket + "/" + (dest.Prefix || ""))),
      h("div", {}, "IAM role"), h("div", {}, dest.RoleARN || ""),
      h("div", {}, "Buffer"), h("div", {}, (hints.SizeInMBs || "?") + " MiB or " + (hints.IntervalInSeconds ?? "?") + " s"),
      h("div", {}, "Compression"), h("div", {}, dest.CompressionFormat || ""),
      h("div", {}, "Error logging"), h("div", {}, (dest.CloudWatchLoggingOptions || {}).Enabled ? (dest.CloudWatchLoggingOptions.LogGroupName + " / " + dest.CloudWatchLoggingOptions.LogStreamName) : "off"),
      h("div", {}, "Created"), h("div", {}, new Date(d.CreateTimestamp * 1000 || d.CreateTimestamp).toISOString()))),
    h("div", { class: "charts" },
      chartCard("c-records", "Incoming records / s", "records in the last 30 minutes"),
      chartCard("c-bytes", "Incoming bytes / s", "bytes in the last 30 minutes"),
      chartCard("c-fresh", "Delivery freshness (s)", "age of the oldest record when delivered"),
      chartCard("c-success", "Delivery success", "share of S3 puts that succeeded")),
    h("div", { class: "card" }, h("h2", {}, "Latest objects"), h("div", { id: "latest" }, "…")));
  const refresh = async () => {
    if (!document.getElementById("c-records")) return;
    const st = (await firehose("DescribeDeliveryStream", { DeliveryStreamName: name })).DeliveryStreamDescription.DeliveryStreamStatus;
    const badge = document.getElementById("stream-status");
    if (badge) { badge.textContent = st; badge.className = "badge" + (st === "ACTIVE" ? " ok" : ""); }
    const [rec, bytes, fresh, ok] = await Promise.all([metric("IncomingRecords", "Sum", name),
      metric("IncomingBytes", "Sum", name), metric("DeliveryToS3.DataFreshness", "Maximum", name),
      metric("DeliveryToS3.Success", "Average", name)]);
    const put = (id, pts, color, nowText, total) => {
      const c = document.getElementById(id + "-canvas"); if (!c) return;
      drawChart(c, pts, color);
      document.getElementById(id + "-now").textContent = nowText;
      document.getElementById(id + "-total").textContent = total;
    };
    const sum = (p) => p.reduce((a, x) => a + x[1], 0);
    const last = (p) => p.length ? p[p.length - 1][1] : null;
    put("c-records", rec.map(([t, v]) => [t, v / 60]), "#0073bb", last(rec) === null ? "0" : (last(rec) / 60).toFixed(2) + " /s",
        sum(rec) + " records in the last 30 minutes");
    document.getElementById("c-records").dataset.total = String(sum(rec));
    put("c-bytes", bytes.map(([t, v]) => [t, v / 60]), "#ff9900", last(bytes) === null ? "0" : fmtBytes(last(bytes) / 60) + "/s",
        fmtBytes(sum(bytes)) + " in the last 30 minutes");
    put("c-fresh", fresh, "#1d8102", last(fresh) === null ? "no delivery yet" : last(fresh).toFixed(1) + " s", "age of the oldest record when delivered");
    put("c-success", ok, "#6b40a8", last(ok) === null ? "no delivery yet" : (last(ok) * 100).toFixed(0) + " %", "share of S3 puts that succeeded");
    try {
      const doc = xml((await s3("GET", s3path(bucket), "list-type=2&max-keys=1000&prefix=" + encodeURIComponent(staticPrefix(dest.Prefix)))).body);
      const objs = [...doc.querySelectorAll("Contents")].map((c) => ({ key: txt(c, "Key"), size: txt(c, "Size"), t: txt(c, "LastModified") }))
        .filter((o) => o.key.includes(name + "-")).sort((a, b) => (a.t < b.t ? 1 : a.t > b.t ? -1 : 0)).slice(0, 10);
      const box = document.getElementById("latest"); if (!box) return;
      box.replaceChildren(objs.length ? h("table", { id: "latest-objects" }, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Size"), h("th", {}, "Last modified")),
        objs.map((o) => h("tr", {}, h("td", {}, h("a", { class: "object", href: "#/s3obj/" + bucket + "/" + encodeURIComponent(o.key) }, o.key)),
          h("td", {}, fmtBytes(o.size)), h("td", {}, o.t)))) : h("p", { class: "muted" }, "No objects delivered yet."));
    } catch (e) { const box = document.getElementById("latest"); if (box) box.replaceChildren(errorBox(e)); }
  };
  await refresh();
  timer = setInterval(() => refresh().catch(() => {}), 3000);
}

// ---- routing ----------------------------------------------------------------------------------
async function route() {
  if (timer) { clearInterval(timer); timer = null; }
  const hash = location.hash.replace(/^#/, "") || "/";
  if (!csrf) {
    const r = await fetch(API + "session", { credentials: "same-origin" });
    if (r.ok) signedIn(await r.json());
    else { loginPage(); return; }
  }
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", hash.startsWith(a.getAttribute("href").slice(1)));
  const parts = hash.split("/").slice(1);
  try {
    if (hash === "/login") loginPage();
    else if (parts[0] === "iam" && parts.length === 2) await rolesPage();
    else if (parts[0] === "iam" && parts[2]) await rolePage(decodeURIComponent(parts[2]));
    else if (parts[0] === "s3" && parts.length === 1) await bucketsPage();
    else if (parts[0] === "s3") await browsePage(parts[1], parts.slice(2).map(decodeURIComponent).join("/"));
    else if (parts[0] === "s3obj") await objectPage(parts[1], decodeURIComponent(parts.slice(2).join("/")));
    else if (parts[0] === "firehose" && !parts[1]) await streamsPage();
    else if (parts[0] === "firehose") await streamPage(decodeURIComponent(parts[1]));
    else home();
  } catch (e) { show(errorBox(e)); }
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", async () => {
    await fetch(API + "logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf || "" } });
    csrf = null; location.hash = "#/login"; route();
  });
  route();
});
