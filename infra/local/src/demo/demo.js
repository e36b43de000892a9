// What a product's settings page does to connect a tenant (see README, "The connect popup, from
// the product's UI"). A product asks its backend for a fresh connect_url on every click; this page
// has no backend, so it takes one pasted in.
import { connect, ConnectError } from "/oauth/connect.js";

const result = document.getElementById("result");
const message = document.getElementById("result-message");
const advice = document.getElementById("result-advice");

function show(status, text, next, details = {}) {
  result.dataset.status = status;
  result.dataset.reason = details.reason ?? "";
  result.dataset.code = details.code ?? "";
  result.dataset.via = details.via ?? "";
  message.textContent = text;
  advice.textContent = next ?? "";
}

document.getElementById("connect").addEventListener("click", async () => {
  const connectUrl = document.getElementById("connect-url").value.trim();
  if (!connectUrl) {
    show("idle", "Paste a connect_url first.");
    return;
  }
  // No await before connect(): it must open the popup inside this click.
  const connecting = connect(connectUrl);
  show("waiting", "Waiting for you to finish in the Salesforce window…");
  try {
    const connected = await connecting;
    show("connected", "Connected to Salesforce.", "", { via: connected.via });
  } catch (error) {
    if (!(error instanceof ConnectError)) {
      show("idle", "That is not a connect_url: paste the connect_url from POST /v1/tenants/{tenant}/connect.");
      return;
    }
    let next = error.advice;
    if (error.reason === "link_spent" || error.reason === "expired") {
      // The demo's Connect button reuses the pasted link; a product's would fetch a new one.
      next += " On this demo page: get a new connect_url (POST /v1/tenants/{tenant}/connect) and paste it above.";
    }
    show("failed", error.message, next, error);
    // The page shows the error now: the popup may close.
    error.acknowledge();
  }
});
