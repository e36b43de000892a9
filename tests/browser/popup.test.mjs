// The connect popup in a real browser: headless Chromium opens the local stack's demo opener
// page (what a product's settings page does), the popup goes to the simulated Salesforce consent
// page, a click on Allow or Deny, and the opener learns the outcome by postMessage, or by
// polling when the popup has no window.opener. Run by infra/scripts/test.sh after `cargo build`.
//
// Usage: node popup.test.mjs <path to sfbridge-local binary>

import { spawn } from "node:child_process";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const binary = process.argv[2];
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

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
        consumerKey: field(/consumer key\s+(\S+)/),
        consumerSecret: field(/consumer secret\s+(\S+)/),
        loginUrl: field(/Simulated Salesforce org at (\S+)/),
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

async function connectInPopup(stack, context, { tenant, decision, noOpener }) {
  const started = await admin(stack, "POST", `/v1/tenants/${tenant}/connect`);
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const page = await context.newPage();
  await page.goto(stack.base + "/demo");
  await page.fill("#connect-url", started.body.connect_url);
  if (noOpener) await page.check("#noopener");
  const [popup] = await Promise.all([context.waitForEvent("page"), page.click("#connect")]);
  await popup.waitForSelector(`#${decision}`);
  await popup.click(`#${decision}`);
  await page.waitForFunction(() => !["idle", "waiting"].includes(document.getElementById("result").dataset.status), null, {
    timeout: 15000,
  });
  const result = await page.$eval("#result", (el) => ({ ...el.dataset, text: el.textContent }));
  return { page, popup, result, flowId: started.body.flow_id };
}

const scenarios = [];
function scenario(name, run) {
  scenarios.push({ name, run });
}

scenario("Allow: the callback page tells the opener and closes itself", async (stack, context) => {
  const { result, popup } = await connectInPopup(stack, context, { tenant: "team_42", decision: "approve" });
  assert.deepEqual([result.status, result.via], ["connected", "message"], result.text);
  if (!popup.isClosed()) await popup.waitForEvent("close", { timeout: 5000 });
  const connection = await admin(stack, "GET", "/v1/tenants/team_42/connection");
  assert.equal(connection.body.status, "connected");
  assert.match(connection.body.organization_id, /^00D[A-Za-z0-9]{15}$/);
});

scenario("Allow without window.opener: the opener learns it by polling", async (stack, context) => {
  const { result, popup } = await connectInPopup(stack, context, { tenant: "team_43", decision: "approve", noOpener: true });
  assert.deepEqual([result.status, result.via], ["connected", "poll"], result.text);
  // With no opener, the page stays and shows the result.
  assert.equal(await popup.textContent("#sfbridge-title"), "Connected to Salesforce");
});

scenario("Deny: the opener gets access_denied and the page says what to do", async (stack, context) => {
  const { result, popup } = await connectInPopup(stack, context, { tenant: "team_44", decision: "deny", noOpener: true });
  assert.deepEqual([result.status, result.code], ["error", "access_denied"], result.text);
  assert.match(await popup.textContent("body"), /choose Allow/);
  const connection = await admin(stack, "GET", "/v1/tenants/team_44/connection");
  assert.equal(connection.body.status, "credentials_saved");
});

scenario("Messages from another window or for another flow are ignored by the opener", async (stack, context) => {
  const page = await context.newPage();
  await page.goto(stack.base + "/demo");
  // An unrecognised link: its error page announces nothing, so only forgeries could arrive.
  await page.fill("#connect-url", `${stack.base}/oauth/start?flow=not-a-flow`);
  const [popup] = await Promise.all([context.waitForEvent("page"), page.click("#connect")]);
  await popup.waitForSelector("#sfbridge-title");
  await popup.evaluate(() =>
    window.opener.postMessage({ source: "sfbridge", flow_id: "B".repeat(43), status: "connected" }, "*"),
  );
  await page.evaluate(() => window.postMessage({ source: "sfbridge", flow_id: "not-a-flow", status: "connected" }, "*"));
  await page.waitForTimeout(500);
  assert.equal(await page.$eval("#result", (el) => el.dataset.status), "waiting");
  assert.equal(await popup.textContent("#sfbridge-title"), "Could not connect to Salesforce");
});

const stack = await startStack();
let failures = 0;
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  for (const tenant of ["team_42", "team_43", "team_44"]) {
    const saved = await admin(stack, "PUT", `/v1/tenants/${tenant}/credentials`, {
      consumer_key: stack.consumerKey,
      consumer_secret: stack.consumerSecret,
      login_url: stack.loginUrl,
    });
    assert.equal(saved.status, 204, JSON.stringify(saved.body));
  }
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
