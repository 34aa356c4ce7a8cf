// The mesh overview page in a real browser: a real palisade-control with two
// palisade-proxies holding SVIDs it issued, and Debian's Chromium driven by
// playwright-core. Every workload must appear with a time-left value; the
// page must load nothing from anywhere but the control plane; a screenshot
// goes to the test's outputs. Issue 19, item 7: a de-registered workload
// reads "de-registered" (not "away"), a retrying proxy's refusals fold into
// one row with a count, the rollover history shows each phase with its time,
// and every time on the page is UTC ISO 8601. Writes JUnit XML to $XML_OUTPUT_FILE for Bazel.
"use strict";
const assert = require("assert");
const childProcess = require("child_process");
const fs = require("fs");
const http = require("http");
const path = require("path");
const { chromium } = require("playwright-core");

const TMP = fs.mkdtempSync(path.join(process.env.TEST_TMPDIR || "/tmp", "overview-"));
const OUT = process.env.TEST_UNDECLARED_OUTPUTS_DIR || TMP;
const children = [];

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function waitFor(what, check, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function get(url) {
  return new Promise((resolve) => {
    http.get(url, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    }).on("error", () => resolve({ status: 0, body: "" }));
  });
}

function start(name, argv) {
  const log = fs.openSync(path.join(TMP, name + ".log"), "w");
  const child = childProcess.spawn(argv[0], argv.slice(1), { stdio: ["ignore", log, log] });
  children.push(child);
  return child;
}

function readFile(p) { try { return fs.readFileSync(p, "utf8").trim(); } catch { return ""; } }

async function startMesh() {
  const adminFile = path.join(TMP, "admin.addr");
  const listenFile = path.join(TMP, "listen.addr");
  start("control", ["control/palisade-control", "serve", "--trust_domain=demo.local",
    `--state_dir=${TMP}/state`, "--listen=127.0.0.1:0", "--admin=127.0.0.1:0",
    `--admin_address_file=${adminFile}`, `--listen_address_file=${listenFile}`, "--svid_ttl=2m"]);
  const admin = await waitFor("the control plane", () => readFile(adminFile));
  const identity = await waitFor("the identity port", () => readFile(listenFile));
  await waitFor("control plane ready", async () => (await get(`http://${admin}/ready`)).status === 200);
  const workloads = ["frontend", "backend"];
  for (const w of workloads) {
    const id = `spiffe://demo.local/ns/demo/sa/${w}`;
    const token = childProcess.execFileSync("control/palisade-control",
      ["token", "create", `--spiffe_id=${id}`, `--admin=${admin}`, `--state_dir=${TMP}/state`],
      { encoding: "utf8" }).trim();
    fs.writeFileSync(path.join(TMP, w + ".token"), token + "\n", { mode: 0o600 });
    fs.writeFileSync(path.join(TMP, w + ".yaml"), `identity:
  spiffe_id: "${id}"
  control_plane:
    address: ${identity}
    server_spiffe_id: "spiffe://demo.local/palisade/control"
    bootstrap_bundle_file: ${TMP}/state/bundle.pem
    join_token_file: ${TMP}/${w}.token
    instance_name: ${w}-1
    initial_backoff: 200ms
    max_backoff: 500ms
admin:
  address: 127.0.0.1:0
inbound:
  - name: in
    address: 127.0.0.1:0
    forward_to: 127.0.0.1:9
`);
    start("proxy-" + w, ["proxy/palisade-proxy", `--config=${TMP}/${w}.yaml`]);
  }
  await waitFor("both workloads issued", async () => {
    const state = JSON.parse((await get(`http://${admin}/api/v1/state`)).body || "{}");
    return (state.workloads || []).filter((w) => w.serial).length >= 2;
  });
  return { admin, workloads };
}

function cli(admin, args) {
  return childProcess.execFileSync("control/palisade-control",
    [...args, `--admin=${admin}`, `--state_dir=${TMP}/state`], { encoding: "utf8" });
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

const results = [];
async function test(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ms: Date.now() - started });
    console.log(`ok - ${name}`);
  } catch (error) {
    results.push({ name, ms: Date.now() - started, error });
    console.log(`not ok - ${name}\n${error.stack}`);
  }
}

async function main() {
  const { admin, workloads } = await startMesh();
  // A fresh profile (--user-data-dir) per run, through Playwright's own option.
  const browser = await chromium.launchPersistentContext(
    fs.mkdtempSync(path.join(TMP, "chromium-")), {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"],
    });
  const page = await browser.newPage();
  const requested = [];
  page.on("request", (r) => requested.push(r.url()));
  try {
    await page.goto(`http://${admin}/`);

    await test("every workload appears with its SVID's time left", async () => {
      for (const w of workloads) {
        const row = page.locator(`tr[data-spiffe-id="spiffe://demo.local/ns/demo/sa/${w}"]`);
        await row.waitFor({ timeout: 15000 });
        const left = (await row.locator("td.time-left").textContent()).trim();
        assert.match(left, /^\d+(s|m|h)$/, `time left for ${w}: "${left}"`);
        assert.ok(await row.locator(".bar > span").count() === 1, `no bar for ${w}`);
      }
    });

    await test("the trust bundle, rollover phase and issuances are shown", async () => {
      await page.locator("#roots tr").first().waitFor({ timeout: 15000 });
      assert.strictEqual((await page.locator("#rollover-phase").textContent()).trim(), "idle");
      assert.ok(await page.locator("#events tr").count() >= 2, "recent issuances missing");
      assert.strictEqual((await page.locator("#trust-domain").textContent()).trim(), "demo.local");
    });

    await test("every time on the page is UTC ISO 8601", async () => {
      const times = await page.locator("td.time").allTextContents();
      assert.ok(times.length >= 4, `too few time cells: ${times.length}`);
      for (const t of times) {
        if (t.trim() !== "" && t.trim() !== "never") assert.match(t.trim(), ISO_UTC);
      }
      await waitFor("a refresh time", async () =>
        ISO_UTC.test((await page.locator("#refreshed").textContent()).trim()), 10000);
    });

    await test("a de-registered workload reads de-registered, not away", async () => {
      const id = "spiffe://demo.local/ns/demo/sa/backend";
      cli(admin, ["deregister", `--spiffe_id=${id}`]);
      const status = page.locator(`#workloads tr[data-spiffe-id="${id}"] td.status`);
      await waitFor("the de-registered status", async () =>
        (await status.textContent()).trim() === "de-registered", 15000);
      const other = page.locator(
        `#workloads tr[data-spiffe-id="spiffe://demo.local/ns/demo/sa/frontend"] td.status`);
      assert.strictEqual((await other.textContent()).trim(), "connected");
    });

    await test("a retrying proxy's refusals fold into one row with a count", async () => {
      const id = "spiffe://demo.local/ns/demo/sa/backend";
      const rows = page.locator(`#refusals tr[data-spiffe-id="${id}"][data-reason="deregistered"]`);
      await waitFor("three refusals of the de-registered proxy", async () =>
        (await rows.count()) === 1 &&
        Number((await rows.locator("td.count").textContent()).trim()) >= 3, 20000);
      assert.strictEqual(await rows.count(), 1);
      const first = (await rows.locator("td.time").nth(0).textContent()).trim();
      const last = (await rows.locator("td.time").nth(1).textContent()).trim();
      assert.match(first, ISO_UTC);
      assert.match(last, ISO_UTC);
      assert.ok(first <= last, `${first} after ${last}`);
      // The refusals take no room from the issuances.
      assert.ok(await page.locator("#events tr").count() >= 2, "issuances pushed out");
    });

    await test("the rollover history shows each phase with its UTC time", async () => {
      cli(admin, ["rollover", "start"]);
      const rows = page.locator("#rollover-history tr");
      await waitFor("the first rollover step", async () => (await rows.count()) >= 1, 15000);
      const last = rows.last();  // newest first: the oldest row is the start
      assert.match((await last.locator("td.time").textContent()).trim(), ISO_UTC);
      assert.strictEqual((await last.locator("td.phase").textContent()).trim(),
        "idle \u2192 propagating");
      const detail = (await page.locator("#rollover-detail").textContent()).trim();
      if (detail) assert.match(detail, /^since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
    });

    await test("the page refreshes by itself", async () => {
      const first = await page.locator("#refreshed").textContent();
      await waitFor("a refresh", async () =>
        (await page.locator("#refreshed").textContent()) !== first, 10000);
    });

    await test("nothing is loaded from anywhere but the control plane", async () => {
      const foreign = requested.filter((u) => !u.startsWith(`http://${admin}/`));
      assert.deepStrictEqual(foreign, []);
    });

    await test("a screenshot is saved", async () => {
      const file = path.join(OUT, "overview.png");
      await page.screenshot({ path: file, fullPage: true });
      assert.ok(fs.statSync(file).size > 1000);
    });
  } finally {
    await browser.close();
  }
}

function writeJUnit() {
  if (!process.env.XML_OUTPUT_FILE) return;
  const esc = (s) => String(s).replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);
  const failures = results.filter((r) => r.error).length;
  const xml = [`<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites><testsuite name="overview_test" tests="${results.length}" failures="${failures}">`];
  for (const r of results) {
    xml.push(`<testcase classname="OverviewPage" name="${esc(r.name)}" time="${r.ms / 1000}">` +
      (r.error ? `<failure message="${esc(r.error.message)}">${esc(r.error.stack)}</failure>` : "") +
      `</testcase>`);
  }
  xml.push("</testsuite></testsuites>");
  fs.writeFileSync(process.env.XML_OUTPUT_FILE, xml.join("\n") + "\n");
}

main()
  .catch((error) => results.push({ name: "set-up", ms: 0, error }))
  .finally(() => {
    for (const child of children) child.kill("SIGTERM");
    writeJUnit();
    const failed = results.filter((r) => r.error);
    for (const r of failed) console.error(`FAILED ${r.name}: ${r.error.message}`);
    process.exit(failed.length || results.length === 0 ? 1 : 0);
  });
