/*
 * QR Payments hosted payment page of a payment link (ours; no third-party code).
 * Shows the chosen method's panel. Card: the vault's hosted fields (an iframe) post a token
 * here, which is sent to this page's server with the CSRF token; the card itself never reaches
 * this page. Bank transfer and QR: asks the server to open the payment and shows its details.
 * Polls the link's state until it is paid, expired or deactivated: every few seconds at first,
 * then less often (up to once a minute) while nothing happens; an answer to the customer's own
 * action makes it quick again.
 */
(function () {
  "use strict";

  var root = document.getElementById("link");
  var data = root.dataset;
  var pollMs = parseInt(data.pollMs, 10) || 3000;
  var expiresAt = parseInt(data.expiresAt, 10) || 0;
  var finished = data.status !== "active";
  var statusLine = document.getElementById("status");
  var errorLine = document.getElementById("error");
  var qrExpiresAt = null;
  var MAX_POLL_MS = 60000;
  var POLLS_PER_STEP = 20;  // then the interval doubles: 3 s for a minute, 6 s, 12 s, … 60 s
  var polls = 0;

  var TEXT = {
    active: "Waiting for your payment.",
    paid: "Paid.",
    expired: "This payment link has expired. Ask the merchant for a new one.",
    deactivated: "This payment link is no longer active. Ask the merchant for a new one."
  };

  function byId(id) { return document.getElementById(id); }

  function showError(message) {
    if (errorLine) { errorLine.textContent = message || ""; }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRFToken": data.csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) {
        return { status: response.status, body: json };
      });
    });
  }

  // --- method panels ---
  function panelFor(method) {
    if (method.indexOf("qr:") === 0) { return byId("panel-qr"); }
    return byId("panel-" + method);
  }

  function selectedMethod() {
    var checked = document.querySelector("input[name=method]:checked");
    return checked ? checked.value : "";
  }

  function showPanel() {
    var method = selectedMethod();
    Array.prototype.forEach.call(document.querySelectorAll(".panel"), function (panel) {
      panel.hidden = panel !== panelFor(method);
    });
    showError("");
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[name=method]"), function (input) {
    input.addEventListener("change", showPanel);
  });
  if (byId("methods")) { showPanel(); }

  // --- what the server says: the link's status and its payment ---
  function render(state) {
    var payment = state.payment;
    if (state.status !== "active") {
      finish(state.status);
      return;
    }
    statusLine.textContent = TEXT.active;
    if (!payment) { return; }
    if (payment.method === "card" && payment.redirect_url && payment.status === "requires_action") {
      statusLine.textContent = "Your bank asks you to confirm the payment…";
      window.location.assign(payment.redirect_url);
      return;
    }
    if (payment.bank_transfer && payment.status === "requires_action") { showBank(payment.bank_transfer); }
    if (payment.qr && payment.status === "requires_action") { showQr(payment.qr); }
    if (payment.status === "processing") { statusLine.textContent = "Your payment is being processed…"; }
  }

  function finish(status) {
    finished = true;
    statusLine.textContent = TEXT[status] || status;
    root.dataset.status = status;
    var pay = byId("pay");
    if (pay) { pay.hidden = true; }
    if (status === "paid") {
      byId("paid").hidden = false;
    } else {
      byId("unavailable-message").textContent = TEXT[status] || "";
      byId("unavailable").hidden = false;
    }
  }

  function showBank(bank) {
    byId("bank-name").textContent = bank.beneficiary_name || "";
    byId("bank-iban").textContent = bank.iban || "";
    byId("bank-bic").textContent = bank.bic || "";
    byId("bank-reference").textContent = bank.reference || "";
    byId("bank-amount").textContent = bank.amount || "";
    var image = byId("bank-qr");
    if (bank.qr_png_url) { image.src = bank.qr_png_url; image.hidden = false; } else { image.hidden = true; }
    byId("bank-start").hidden = true;
    byId("bank-payer").hidden = true;
    byId("bank-details").hidden = false;
  }

  function showQr(qr) {
    if (qr.qr_png_url) { byId("qr-image").src = qr.qr_png_url; }
    qrExpiresAt = qr.expires_at || expiresAt;
    byId("qr-start").hidden = true;
    byId("qr-details").hidden = false;
    tick();
  }

  function tick() {
    if (qrExpiresAt === null) { return; }
    var left = Math.max(0, Math.floor(qrExpiresAt - Date.now() / 1000));
    var minutes = Math.floor(left / 60);
    var seconds = ("0" + (left % 60)).slice(-2);
    byId("qr-countdown").textContent = left > 0
      ? "This code expires in " + minutes + ":" + seconds + "."
      : "This code has expired. Reload the page for a new one.";
  }

  function answered(result) {
    polls = 0;  // the customer acted: look again soon
    if (result.status >= 200 && result.status < 300) {
      showError("");
      render(result.body);
      return;
    }
    var error = (result.body && result.body.error) || {};
    showError(error.message || "The payment could not be made. Please try again.");
    if (/^payment_link_(expired|deactivated|paid)$/.test(error.code || "")) { poll(); }
  }

  function failed() { showError("Network error; please try again."); }

  // --- card: the hosted fields' token, accepted only from the vault's frame ---
  window.addEventListener("message", function (event) {
    var frame = byId("card-frame");
    if (!frame || event.origin !== data.fieldsOrigin || event.source !== frame.contentWindow) { return; }
    var message = event.data || {};
    if (message.type !== "qr-fields:token" || !/^tok_[0-9A-Za-z]+$/.test(message.token || "")) { return; }
    statusLine.textContent = "Paying…";
    post(data.cardUrl, { token: message.token }).then(answered, failed);
  });

  // --- bank transfer and QR: the server opens the payment ---
  function collect(method, payerName) {
    showError("");
    var body = { method: method };
    if (payerName) { body.customer_name = payerName; }
    post(data.collectUrl, body).then(answered, failed);
  }
  if (byId("bank-start")) {
    byId("bank-start").addEventListener("click", function () {
      collect("bank_transfer", byId("bank-payer-name").value.trim());
    });
    byId("qr-start").addEventListener("click", function () { collect(selectedMethod()); });
  }

  // --- polling ---
  function poll() {
    polls += 1;
    fetch(data.stateUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) { if (state) { render(state); } })
      .catch(function () { /* the next poll tries again */ });
  }

  function interval() {
    var steps = Math.floor(polls / POLLS_PER_STEP);
    return Math.min(MAX_POLL_MS, pollMs * Math.pow(2, Math.min(steps, 10)));
  }

  function schedule() {
    if (finished) { return; }
    window.setTimeout(function () { poll(); schedule(); }, interval());
  }

  window.setInterval(tick, 1000);
  if (!finished) { poll(); schedule(); }
})();
