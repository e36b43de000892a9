// sfbridge connect helper: opens the Salesforce connect popup from a product's page and tells how
// it ended. A dependency-free ES module served by sfbridge at /oauth/connect.js; see the README,
// "The connect popup, from the product's UI".
//
//   import * as sfbridge from "https://<sfbridge>/oauth/connect.js";
//   button.addEventListener("click", async () => {
//     try {
//       await sfbridge.connect(() => myBackend.newConnectUrl()); // POST /v1/tenants/{t}/connect
//       showConnected();
//     } catch (err) {
//       if (!(err instanceof sfbridge.ConnectError)) throw err;
//       showError(err.message, err.advice);
//       err.acknowledge(); // this page shows the error now: the popup may close
//     }
//   });

/** What a person can do next, by `ConnectError.reason`. */
const ADVICE = {
  popup_blocked:
    "Allow pop-ups for this site in your browser (usually an icon at the end of the address bar), then click Connect again.",
  closed: "Click Connect to try again, and finish signing in to Salesforce in the window that opens.",
  denied: "Click Connect to try again, and choose Allow in the Salesforce window.",
  expired: "Click Connect to start again with a new link.",
  link_spent: "Click Connect to start again with a new link.",
  salesforce_error: "Do what the message says (or pass it on to your Salesforce administrator), then click Connect again.",
};

/** How long an error's acknowledgement waits for the popup's own message (see `acknowledge`). */
const ACK_WAIT_MS = 10000;
/** How often the popup is checked for having been closed: well within the promised second. */
const CLOSED_CHECK_MS = 250;

/**
 * Why connecting did not succeed. `reason` is one of `popup_blocked`, `closed`, `denied`,
 * `expired`, `link_spent`, `salesforce_error`; `message` explains it to the person and `advice`
 * says what to do next (both plain text); `code` is sfbridge's or Salesforce's error code when
 * there is one.
 */
export class ConnectError extends Error {
  #acknowledge;

  constructor(reason, message, { code = null, flowId = null, tenantId = null, via = null, acknowledge = () => {} } = {}) {
    super(message);
    this.name = "ConnectError";
    this.reason = reason;
    this.advice = ADVICE[reason];
    this.code = code;
    this.flowId = flowId;
    this.tenantId = tenantId;
    /** How it was learned: "message" (from the popup), "status" (GET /oauth/flows/{id}) or "browser". */
    this.via = via;
    this.#acknowledge = acknowledge;
  }

  /**
   * Tells the popup that this page now shows the error, so it closes itself. Without it the
   * popup keeps showing the same explanation until the person closes it.
   */
  acknowledge() {
    this.#acknowledge();
  }
}

/** The connect attempt in progress: a second click while it runs gets it, not a second window. */
let current = null;

/**
 * Opens the connect popup and resolves with `{status: "connected", flowId, tenantId, via}` once
 * the tenant is connected, or rejects with a `ConnectError`.
 *
 * Call it synchronously in a click handler: a popup blocker allows a window only there.
 * `connectUrl` is the `connect_url` of `POST /v1/tenants/{t}/connect`, or a function returning
 * (a promise of) one: then the window opens at once and goes to the link when it arrives, so the
 * product's backend can be asked for a fresh link on every click. Each link works once.
 *
 * Options: `pollInterval` (ms between flow status checks, default 1000), `detectClosed` (default
 * true: a window the person closes ends the attempt within a second; set it to false if a sign-in
 * page in the popup severs it from this page, which browsers report as closed).
 */
export function connect(connectUrl, options = {}) {
  if (current) {
    current.popup.focus();
    return current.promise;
  }
  const deferred = typeof connectUrl === "function";
  let link = null;
  if (!deferred) {
    try {
      link = parseConnectUrl(connectUrl);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  // Synchronously, still inside the click handler.
  const popup = window.open(deferred ? "about:blank" : link.url, "sfbridge-connect", "popup,width=520,height=720");
  if (!popup) {
    return Promise.reject(
      new ConnectError("popup_blocked", "Your browser blocked the Salesforce sign-in window.", { via: "browser" }),
    );
  }
  const attempt = { popup, promise: null };
  attempt.promise = run(popup, deferred ? connectUrl : null, link, options).finally(() => {
    if (current === attempt) current = null;
  });
  current = attempt;
  return attempt.promise;
}

function run(popup, getUrl, link, { pollInterval = 1000, detectClosed = true }) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timers = [];
    // An acknowledgement goes to the popup only once it shows our error page for this flow,
    // which its own message proves; that may come before or after the error was learned by
    // polling, so the listener stays a while after an error.
    let errorPage = null;
    let acknowledged = false;
    let ackWait = null;

    const stopListening = () => {
      clearTimeout(ackWait);
      window.removeEventListener("message", onMessage);
    };
    const sendAck = () => {
      if (!acknowledged || !errorPage) return;
      errorPage.postMessage({ source: "sfbridge", type: "salesforce.ack", flow_id: link.flowId }, link.origin);
      stopListening();
    };
    const acknowledge = () => {
      acknowledged = true;
      sendAck();
    };
    const settle = () => {
      settled = true;
      timers.forEach(clearInterval);
    };
    const succeed = (via, tenantId) => {
      if (settled) return;
      settle();
      stopListening();
      resolve({ status: "connected", flowId: link.flowId, tenantId: tenantId ?? null, via });
    };
    const fail = (reason, message, details) => {
      if (settled) return;
      settle();
      ackWait = setTimeout(stopListening, ACK_WAIT_MS);
      reject(new ConnectError(reason, message, { flowId: link?.flowId ?? null, acknowledge, ...details }));
    };
    // An error as sfbridge reports it, in a message or the flow status: `{code, message}`.
    const failWith = (error, via, tenantId) =>
      fail(reasonFor(error?.code), error?.message || "Salesforce could not be connected.", {
        code: error?.code ?? null,
        tenantId: tenantId ?? null,
        via,
      });

    function onMessage(event) {
      if (!link || event.origin !== link.origin || event.source !== popup) return; // exact origin, our popup
      const data = event.data;
      if (!data || data.source !== "sfbridge" || data.flow_id !== link.flowId) return; // our flow
      if (data.type === "salesforce.connected") {
        succeed("message", data.tenant_id);
      } else if (data.type === "salesforce.error") {
        errorPage = event.source;
        failWith(data.error, "message", data.tenant_id);
        sendAck();
      }
    }
    window.addEventListener("message", onMessage);

    // GET /oauth/flows/{id}: "connected" and "failed" are final; "pending" and "started" are not.
    const checkStatus = async ({ first = false } = {}) => {
      let response;
      try {
        response = await fetch(link.statusUrl, { cache: "no-store", credentials: "omit" });
      } catch {
        return; // a network hiccup: the next check, or the popup's message, tells
      }
      if (settled) return;
      if (response.status === 404) {
        fail("expired", "This connect link is unknown or too old.", { code: "unknown_flow", via: "status" });
        return;
      }
      const flow = response.ok ? await response.json().catch(() => null) : null;
      if (!flow || settled) return;
      if (flow.status === "connected") {
        succeed("status", flow.tenant_id);
      } else if (flow.status === "failed" && first && flow.error?.code !== "flow_expired") {
        // It had failed before this window opened it: an earlier attempt used the link up.
        const earlier = flow.error?.message ? ` It ended with: ${flow.error.message}` : "";
        fail("link_spent", `This connect link was already used, and that attempt did not connect.${earlier}`, {
          code: "flow_already_failed",
          tenantId: flow.tenant_id,
          via: "status",
        });
      } else if (flow.status === "failed") {
        failWith(flow.error, "status", flow.tenant_id);
      }
    };

    const watch = () => {
      checkStatus({ first: true });
      timers.push(setInterval(checkStatus, pollInterval));
    };
    if (detectClosed) {
      let closing = false;
      timers.push(
        setInterval(async () => {
          if (closing || settled || !popup.closed) return;
          closing = true;
          // It may have closed itself right after finishing: one last look first. Otherwise the
          // flow is left to expire on its own.
          if (link) await checkStatus();
          fail("closed", "The Salesforce sign-in window was closed before the connection was made.", { via: "browser" });
        }, CLOSED_CHECK_MS),
      );
    }

    if (!getUrl) {
      watch();
      return;
    }
    Promise.resolve()
      .then(getUrl)
      .then((value) => {
        if (settled) return;
        link = parseConnectUrl(value);
        popup.location.replace(link.url);
        watch();
      })
      .catch((error) => {
        if (settled) return;
        settle();
        stopListening();
        popup.close();
        reject(error);
      });
  });
}

/** The reason for an error code of sfbridge's (or Salesforce's, passed on). */
function reasonFor(code) {
  switch (code) {
    case "access_denied":
      return "denied";
    case "flow_expired":
    case "state_expired":
    case "unknown_flow":
      return "expired";
    case "flow_already_started":
    case "flow_already_failed":
      return "link_spent";
    default:
      return "salesforce_error";
  }
}

/** A connect_url: `…/oauth/start?flow={id}`, whose origin is the only one messages may come from. */
function parseConnectUrl(value) {
  let url = null;
  try {
    url = new URL(String(value), window.location.href);
  } catch {
    // named below
  }
  const flowId = url?.searchParams.get("flow");
  if (!url || !url.pathname.endsWith("/oauth/start") || !flowId) {
    throw new TypeError(`connect() takes the connect_url of POST /v1/tenants/{tenant}/connect (…/oauth/start?flow=…), not ${value}`);
  }
  return {
    url: url.href,
    origin: url.origin,
    flowId,
    statusUrl: new URL(`flows/${encodeURIComponent(flowId)}`, url).href,
  };
}
