// The connect popup in a real browser, with Chromium's popup blocker on (Playwright turns it off
// by default; here it is not): headless Chromium opens the local stack's /demo page (what a
// product's settings page does, using the connect helper /oauth/connect.js), a real click on
// Connect opens the popup, the popup goes to the simulated Salesforce consent page, a click on
// Allow or Deny, and the opener learns the outcome from the popup's message or from the flow
// status. Every flow scenario also checks that GET /oauth/flows/{id} agrees. Run by
// infra/scripts/test.sh after `cargo build`.
//
// Usage: node popup.test.mjs <path to sfbridge-local binary>

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const binary = process.argv[2];
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const connectDoc = readFileSync(new URL("../../docs/connect-popup.md", import.meta.url), "utf8");

function startStack() {
  const child = spawn(binary, ["--simulate-salesforce", "--port", "0"], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`sfbridge-local printed no banner:\n${out}`)), 30000);
    child.on("exit", (code) => reject(new Error(`sfbridge-local exited with ${code}:\n${out}`)));
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const field = (re) => out.match(re)?.[1];
      const stack = {
        child,
        base: field(/listening on (\S+)/),
        token: field(/admin token\s+(\S+)/),
        // The banner's labels, which the walk-through (docs/local.md) names its placeholders after.
        consumerKey: field(/^\s+consumer_key\s+(\S+)/m),
        consumerSecret: field(/^\s+consumer_secret\s+(\S+)/m),
        loginUrl: field(/^\s+login_url\s+(\S+)/m),
      };
      if (Object.values(stack).every(Boolean)) {
        clearTimeout(timer);
        resolve(stack);
      }
    });
  });
}

async function admin(stack, method, path, body) {
  const response = await fetch(stack.base + path, {
    method,
    headers: { authorization: `Bearer ${stack.token}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

let tenants = 0;
/** A tenant with the simulated org's app saved, and a connect link for it. */
async function newFlow(stack) {
  const tenant = `team_${++tenants}`;
  const saved = await admin(stack, "PUT", `/v1/tenants/${tenant}/credentials`, {
    consumer_key: stack.consumerKey,
    consumer_secret: stack.consumerSecret,
    login_url: stack.loginUrl,
  });
  assert.equal(saved.status, 204, JSON.stringify(saved.body));
  const started = await admin(stack, "POST", `/v1/tenants/${tenant}/connect`);
  assert.equal(started.status, 201, JSON.stringify(started.body));
  return { tenant, flowId: started.body.flow_id, connectUrl: started.body.connect_url };
}

/** GET /oauth/flows/{id}, as the product's page polls it. */
async function flowStatus(stack, flowId) {
  const response = await fetch(`${stack.base}/oauth/flows/${flowId}`);
  return response.json();
}

/** The /demo page, recording every message its window receives (installed before any script). */
async function openDemo(stack, context, connectUrl) {
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.__messages = [];
    window.addEventListener("message", (event) => window.__messages.push({ origin: event.origin, data: event.data }));
  });
  await page.goto(stack.base + "/demo");
  await page.fill("#connect-url", connectUrl);
  return page;
}

/** A real click on Connect (a user gesture, so the blocker lets the popup open). */
async function clickConnect(page, context) {
  const [popup] = await Promise.all([context.waitForEvent("page"), page.click("#connect")]);
  return popup;
}

/** Waits until /demo shows an outcome and returns what it shows. */
async function outcome(page) {
  await page.waitForFunction(() => !["idle", "waiting"].includes(document.getElementById("result").dataset.status), null, {
    timeout: 15000,
  });
  return page.$eval("#result", (el) => ({
    ...el.dataset,
    message: el.querySelector("#result-message").textContent,
    advice: el.querySelector("#result-advice").textContent,
  }));
}

async function sfbridgeMessages(page) {
  return (await page.evaluate(() => window.__messages)).filter((m) => m.data?.source === "sfbridge");
}

async function closesWithin(popup, ms) {
  if (!popup.isClosed()) await popup.waitForEvent("close", { timeout: ms });
}

/**
 * Records what /oauth/start answers from now on (status and HTML), passing it through unchanged:
 * the popup may close before its page could be read.
 */
async function recordStartPages(context) {
  const pages = [];
  await context.route(/\/oauth\/start\?/, async (route) => {
    const response = await route.fetch();
    const body = await response.text();
    pages.push({ status: response.status(), body });
    await route.fulfill({ response, body });
  });
  return pages;
}

const scenarios = [];
function scenario(name, run) {
  scenarios.push({ name, run });
}

scenario("Allow: connected, told by the popup's message; the popup closes itself", async (stack, context) => {
  const { tenant, flowId, connectUrl } = await newFlow(stack);
  const page = await openDemo(stack, context, connectUrl);
  const popup = await clickConnect(page, context);
  await popup.click("#approve");
  const result = await outcome(page);
  assert.deepEqual([result.status, result.via, result.message], ["connected", "message", "Connected to Salesforce."]);
  await closesWithin(popup, 5000);
  const messages = await sfbridgeMessages(page);
  assert.deepEqual(
    messages.map((m) => [m.origin, m.data.type, m.data.status, m.data.flow_id, m.data.tenant_id]),
    [[stack.base, "salesforce.connected", "connected", flowId, tenant]],
  );
  assert.equal((await flowStatus(stack, flowId)).status, "connected");
  const connection = await admin(stack, "GET", `/v1/tenants/${tenant}/connection`);
  assert.equal(connection.body.status, "connected");
  assert.match(connection.body.organization_id, /^00D[A-Za-z0-9]{15}$/);
});

scenario("Deny: the opener shows the explanation and the next step, then the popup closes on its acknowledgement", async (stack, context) => {
  const { tenant, flowId, connectUrl } = await newFlow(stack);
  const page = await openDemo(stack, context, connectUrl);
  const popup = await clickConnect(page, context);
  await popup.click("#deny");
  const result = await outcome(page);
  assert.deepEqual([result.status, result.reason, result.code, result.via], ["failed", "denied", "access_denied", "message"]);
  assert.match(result.message, /Access was not allowed in Salesforce.*choose Allow/);
  assert.equal(result.advice, "Click Connect to try again, and choose Allow in the Salesforce window.");
  assert.doesNotMatch(result.message + result.advice, /learned by|poll/);
  await closesWithin(popup, 5000);
  const [message] = await sfbridgeMessages(page);
  assert.deepEqual([message.data.type, message.data.status, message.data.error.code], ["salesforce.error", "failed", "access_denied"]);
  const flow = await flowStatus(stack, flowId);
  assert.deepEqual([flow.status, flow.error.code], ["failed", "access_denied"]);
  assert.equal((await admin(stack, "GET", `/v1/tenants/${tenant}/connection`)).body.status, "credentials_saved");
});

scenario("An error page stays open until the opener acknowledges it; other acknowledgements are ignored", async (stack, context) => {
  const { flowId, connectUrl } = await newFlow(stack);
  const page = await openDemo(stack, context, connectUrl);
  // A settings page that shows errors but does not acknowledge them.
  await page.evaluate(async (url) => {
    const sfbridge = await import("/oauth/connect.js");
    const button = document.createElement("button");
    button.id = "no-ack";
    button.textContent = "Connect (no acknowledgement)";
    button.addEventListener("click", () => {
      sfbridge.connect(url).catch((error) => (window.__error = error));
    });
    document.body.append(button);
  }, connectUrl);
  const [popup] = await Promise.all([context.waitForEvent("page"), page.click("#no-ack")]);
  await popup.click("#deny");
  await page.waitForFunction(() => window.__error);
  assert.equal(await page.evaluate(() => window.__error.reason), "denied");
  await page.waitForTimeout(1500);
  assert.ok(!popup.isClosed(), "the error page closed although nobody acknowledged it");
  assert.match(await popup.textContent("body"), /choose Allow/);
  // From the popup itself (the right origin, but not its opener), and for another flow.
  await popup.evaluate((flow) => window.postMessage({ source: "sfbridge", type: "salesforce.ack", flow_id: flow }, "*"), flowId);
  await page.evaluate(() => window.open("", "sfbridge-connect").postMessage({ source: "sfbridge", type: "salesforce.ack", flow_id: "B".repeat(43) }, "*"));
  await page.waitForTimeout(500);
  assert.ok(!popup.isClosed(), "a forged acknowledgement closed the error page");
  await page.evaluate(() => window.__error.acknowledge());
  await closesWithin(popup, 3000);
  assert.equal((await flowStatus(stack, flowId)).status, "failed");
});

scenario("Closed by the person: reported within 2 s, and the flow is left to expire", async (stack, context) => {
  const { flowId, connectUrl } = await newFlow(stack);
  const page = await openDemo(stack, context, connectUrl);
  const popup = await clickConnect(page, context);
  await popup.waitForSelector("#approve");
  const closedAt = performance.now();
  await popup.close();
  const result = await outcome(page);
  const took = performance.now() - closedAt;
  assert.ok(took < 2000, `the closed popup was reported after ${Math.round(took)} ms`);
  assert.deepEqual([result.status, result.reason], ["failed", "closed"]);
  assert.match(result.message, /closed before the connection was made/);
  assert.match(result.advice, /Click Connect to try again/);
  assert.equal((await flowStatus(stack, flowId)).status, "started");
});

scenario("Popup blocked (opened outside a click): popup_blocked, and the link stays unused", async (stack, context) => {
  const { tenant, flowId, connectUrl } = await newFlow(stack);
  // A page that calls connect() as it loads, with no click: the blocker refuses the window.
  const blockedUrl = `${stack.base}/test/connect-on-load`;
  await context.route(blockedUrl, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><script type="module">
        import { connect } from "/oauth/connect.js";
        connect(${JSON.stringify(connectUrl)}).then(
          () => { document.body.dataset.reason = "connected"; },
          (error) => { Object.assign(document.body.dataset, { reason: error.reason, message: error.message, advice: error.advice }); });
      </script>`,
    }),
  );
  let popups = 0;
  context.on("page", () => (popups += 1));
  const page = await context.newPage();
  popups = 0;
  await page.goto(blockedUrl);
  await page.waitForFunction(() => document.body?.dataset.reason);
  const blocked = await page.evaluate(() => ({ ...document.body.dataset }));
  assert.equal(blocked.reason, "popup_blocked");
  assert.match(blocked.message, /blocked/);
  assert.match(blocked.advice, /Allow pop-ups for this site/);
  assert.equal(popups, 0, "a window opened");
  assert.equal((await flowStatus(stack, flowId)).status, "pending");

  // The link was never opened, so a click can still use it.
  const demo = await openDemo(stack, context, connectUrl);
  const popup = await clickConnect(demo, context);
  await popup.click("#approve");
  assert.equal((await outcome(demo)).status, "connected");
  assert.equal((await admin(stack, "GET", `/v1/tenants/${tenant}/connection`)).body.status, "connected");
});

scenario("Allow without window.opener: told by the flow status; the popup stays and shows the result", async (stack, context) => {
  const { flowId, connectUrl } = await newFlow(stack);
  const page = await openDemo(stack, context, connectUrl);
  const popup = await clickConnect(page, context);
  await popup.waitForSelector("#approve");
  // As a Cross-Origin-Opener-Policy on the way would: the popup loses its opener for good.
  await popup.evaluate(() => {
    window.opener = null;
  });
  await popup.click("#approve");
  const result = await outcome(page);
  assert.deepEqual([result.status, result.via], ["connected", "status"]);
  assert.equal(await popup.textContent("#sfbridge-title"), "Connected to Salesforce");
  assert.deepEqual(await sfbridgeMessages(page), []);
  assert.equal((await flowStatus(stack, flowId)).status, "connected");
});

scenario("A reused link after success reports connected, and no error message is posted", async (stack, context) => {
  const { flowId, connectUrl } = await newFlow(stack);
  const page = await openDemo(stack, context, connectUrl);
  const first = await clickConnect(page, context);
  await first.click("#approve");
  assert.equal((await outcome(page)).status, "connected");
  await closesWithin(first, 5000);

  const starts = await recordStartPages(context);
  const again = await clickConnect(page, context);
  const result = await outcome(page);
  assert.deepEqual([result.status, result.message], ["connected", "Connected to Salesforce."]);
  await closesWithin(again, 5000);
  assert.deepEqual(starts.map((p) => p.status), [200]);
  assert.match(starts[0].body, /already used, and it connected Salesforce/);
  const messages = await sfbridgeMessages(page);
  assert.ok(messages.length >= 1, "the first popup's message");
  for (const m of messages) assert.deepEqual([m.data.type, m.data.status, m.data.error], ["salesforce.connected", "connected", null]);
  assert.equal((await flowStatus(stack, flowId)).status, "connected");
});

scenario("A reused link after failure says a new link is needed", async (stack, context) => {
  const { flowId, connectUrl } = await newFlow(stack);
  const page = await openDemo(stack, context, connectUrl);
  const first = await clickConnect(page, context);
  await first.click("#deny");
  assert.equal((await outcome(page)).reason, "denied");
  await closesWithin(first, 5000);

  const starts = await recordStartPages(context);
  const again = await clickConnect(page, context);
  const result = await outcome(page);
  assert.deepEqual([result.status, result.reason, result.code], ["failed", "link_spent", "flow_already_failed"]);
  assert.match(result.message, /already used/);
  assert.match(result.advice, /new link/);
  await closesWithin(again, 5000);
  assert.deepEqual(starts.map((p) => p.status), [400]);
  assert.match(starts[0].body, /already used.*a new one is needed/s);
  const messages = await sfbridgeMessages(page);
  for (const m of messages) assert.deepEqual([m.data.type, m.data.status], ["salesforce.error", "failed"]);
  assert.ok(messages.some((m) => m.data.error.code === "flow_already_failed"), JSON.stringify(messages));
  const flow = await flowStatus(stack, flowId);
  assert.deepEqual([flow.status, flow.error.code], ["failed", "access_denied"]);
});

scenario("Forged messages (another origin, another window, another flow) are ignored", async (stack, context) => {
  const { flowId, connectUrl } = await newFlow(stack);
  const page = await openDemo(stack, context, connectUrl);
  const popup = await clickConnect(page, context);
  await popup.waitForSelector("#approve");
  const forged = (status) => ({ source: "sfbridge", type: `salesforce.${status === "connected" ? "connected" : "error"}`, flow_id: flowId, status });
  // From the Salesforce page in the popup: another origin.
  assert.notEqual(new URL(popup.url()).origin, stack.base);
  await popup.evaluate((m) => window.opener.postMessage(m, "*"), forged("connected"));
  await popup.evaluate((m) => window.opener.postMessage(m, "*"), forged("failed"));
  // From the opener's own window: the right origin, but not the popup.
  await page.evaluate((m) => window.postMessage(m, "*"), forged("connected"));
  await page.evaluate((m) => window.postMessage({ ...m, flow_id: "B".repeat(43) }, "*"), forged("connected"));
  await page.waitForTimeout(1500); // past a status poll
  assert.equal(await page.$eval("#result", (el) => el.dataset.status), "waiting");
  assert.equal((await flowStatus(stack, flowId)).status, "started");

  await popup.click("#approve");
  const result = await outcome(page);
  assert.deepEqual([result.status, result.via], ["connected", "message"]);
  assert.equal((await flowStatus(stack, flowId)).status, "connected");
});

scenario("The documented integrity hash loads the helper on another origin; a wrong one is refused", async (stack, context) => {
  const integrity = connectDoc.match(/sha384-[A-Za-z0-9+/=]+/)?.[0];
  assert.ok(integrity, "docs/connect-popup.md documents the helper's integrity");
  const helper = `${stack.base}/oauth/connect.js`;
  // A product's pages on their own origin: a module from sfbridge loads only with CORS, and only
  // if its hash matches.
  const pageWith = (head) => `<!doctype html><html><head>${head}</head><body></body></html>`;
  const product = await serveProductPages({
    "/settings": pageWith(`<script type="importmap">${JSON.stringify({ imports: { sfbridge: helper }, integrity: { [helper]: integrity } })}</script>
      <script type="module">import * as sfbridge from "sfbridge"; document.body.dataset.loaded = typeof sfbridge.connect;</script>`),
    "/tampered": pageWith(`<script type="module" src="${helper}" integrity="sha384-${"A".repeat(64)}"
      onload="document.body.dataset.loaded = 'yes'" onerror="document.body.dataset.refused = 'yes'"></script>`),
  });
  try {
    assert.notEqual(product.origin, stack.base);
    const page = await context.newPage();
    await page.goto(`${product.origin}/settings`);
    await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => document.body.dataset.loaded), "function");
    await page.goto(`${product.origin}/tampered`);
    await page.waitForFunction(() => document.body.dataset.refused || document.body.dataset.loaded, null, { timeout: 5000 });
    assert.deepEqual(await page.evaluate(() => ({ ...document.body.dataset })), { refused: "yes" });
  } finally {
    product.server.close();
  }
});

/** A product's web server on another loopback port (another origin), serving fixed pages. */
async function serveProductPages(pages) {
  const server = createServer((request, response) => {
    const page = pages[new URL(request.url, "http://x").pathname];
    response.writeHead(page ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    response.end(page ?? "");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

const stack = await startStack();
let failures = 0;
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  // Keep Chromium's popup blocker: the tests must show the popup opens because of the click.
  ignoreDefaultArgs: ["--disable-popup-blocking"],
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  for (const { name, run } of scenarios) {
    const context = await browser.newContext();
    const started = performance.now();
    try {
      await run(stack, context);
      console.log(`ok   ${name} (${Math.round(performance.now() - started)} ms)`);
    } catch (error) {
      failures += 1;
      console.log(`FAIL ${name}\n${error.stack ?? error}`);
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
  stack.child.kill();
}
console.log(`${scenarios.length - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
