// What a product's UI does to connect a tenant (see README, "The connect popup").
"use strict";

document.getElementById("connect").addEventListener("click", function () {
  var result = document.getElementById("result");
  var connectUrl;
  try {
    connectUrl = new URL(document.getElementById("connect-url").value.trim());
  } catch (e) {
    result.textContent = "paste the connect_url first";
    return;
  }
  var flowId = connectUrl.searchParams.get("flow");
  var callbackOrigin = connectUrl.origin;
  var noOpener = document.getElementById("noopener").checked;

  // Synchronously in the click handler, or popup blockers step in.
  var popup = window.open(connectUrl.toString(), "sfbridge-connect", noOpener ? "popup,noopener" : "popup,width=520,height=720");
  if (!popup && !noOpener) {
    result.textContent = "the popup was blocked: allow popups for this site and click again";
    return;
  }
  result.textContent = "waiting for Salesforce…";
  result.dataset.status = "waiting";

  var finished = false;
  var poll;
  function finish(via, status, code) {
    if (finished) return;
    finished = true;
    window.removeEventListener("message", onMessage);
    clearInterval(poll);
    result.dataset.status = status;
    result.dataset.via = via;
    result.dataset.code = code || "";
    result.textContent = status + (code ? " (" + code + ")" : "") + ", learned by " + via;
  }
  function onMessage(event) {
    if (event.origin !== callbackOrigin) return; // exact origin, never a pattern
    if (popup && event.source !== popup) return; // from our popup only
    var data = event.data || {};
    if (data.source !== "sfbridge" || data.flow_id !== flowId) return; // our flow only
    finish("message", data.status, data.error && data.error.code);
  }
  window.addEventListener("message", onMessage);

  var statusUrl = new URL("/oauth/flows/" + encodeURIComponent(flowId), callbackOrigin).toString();
  poll = setInterval(function () {
    fetch(statusUrl, { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (flow) {
        if (flow.status === "connected") finish("poll", "connected");
        else if (flow.status === "failed") finish("poll", "error", flow.error && flow.error.code);
      })
      .catch(function () { /* keep polling; the flow expires on its own */ });
  }, noOpener ? 500 : 1500);
});
