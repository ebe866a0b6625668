/*
 * QR Payments hosted card fields (ours; no third-party code).
 * Runs inside the vault's iframe. Reads the card from this page's inputs, creates a token
 * with the publishable key (POST /api/tokens on the vault's own origin), and posts ONLY
 * {type, token} to the parent, restricted to the merchant origin the server validated: no
 * brand, last4, expiry or fingerprint (the merchant's server gets the card's display data
 * with the payment). The card number never leaves this frame except to the vault API.
 */
(function () {
  "use strict";

  var form = document.getElementById("qr-fields");
  var key = form.dataset.key;
  var parentOrigin = form.dataset.origin;
  var endpoint = form.dataset.endpoint;
  var inputs = {
    number: document.getElementById("number"),
    expiry: document.getElementById("expiry"),
    cvc: document.getElementById("cvc"),
    holder: document.getElementById("holder")
  };
  var submit = document.getElementById("submit");
  var statusLine = document.getElementById("status");
  // API error parameters → the input that shows them.
  var FIELD_FOR_PARAM = {
    "card[number]": "number",
    "card[exp_month]": "expiry",
    "card[exp_year]": "expiry",
    "card[cvc]": "cvc"
  };

  // A random Idempotency-Key per card entry: re-submitting after a network error reuses it, so
  // the vault replays the first answer instead of making a second token; any answer or any
  // edit of the inputs starts a new one. The server keeps only an HMAC (keyed with a server
  // secret) of the request body, never an unkeyed hash of the card number.
  var idempotencyKey = null;
  form.addEventListener("input", function () { idempotencyKey = null; });

  function randomIdempotencyKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "hf_" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function digitsOf(text) {
    return text.replace(/[\s-]/g, "");
  }

  function luhnValid(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var value = digits.charCodeAt(digits.length - 1 - i) - 48;
      if (i % 2 === 1) {
        value *= 2;
        if (value > 9) { value -= 9; }
      }
      sum += value;
    }
    return sum % 10 === 0;
  }

  function showError(field, message) {
    document.getElementById(field + "-error").textContent = message;
    inputs[field].setAttribute("aria-invalid", "true");
  }

  function clearErrors() {
    ["number", "expiry", "cvc"].forEach(function (field) {
      document.getElementById(field + "-error").textContent = "";
      inputs[field].removeAttribute("aria-invalid");
    });
    statusLine.textContent = "";
  }

  function parseExpiry(text) {
    var match = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(text);
    if (!match) { return null; }
    var year = parseInt(match[2], 10);
    return { month: parseInt(match[1], 10), year: year < 100 ? 2000 + year : year };
  }

  // Group the number in fours as it is typed (display only).
  inputs.number.addEventListener("input", function () {
    var digits = digitsOf(inputs.number.value).replace(/\D/g, "").slice(0, 19);
    inputs.number.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
  });

  function validateLocally(number, expiry, cvc) {
    var ok = true;
    if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) {
      showError("number", "Your card number is invalid.");
      ok = false;
    }
    if (!expiry || expiry.month < 1 || expiry.month > 12) {
      showError("expiry", "Your card's expiration date is invalid.");
      ok = false;
    }
    if (!/^\d{3,4}$/.test(cvc)) {
      showError("cvc", "Your card's security code is invalid.");
      ok = false;
    }
    return ok;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    var number = digitsOf(inputs.number.value);
    var expiry = parseExpiry(inputs.expiry.value);
    var cvc = inputs.cvc.value.trim();
    if (!validateLocally(number, expiry, cvc)) { return; }
    submit.disabled = true;
    statusLine.textContent = "Saving…";
    idempotencyKey = idempotencyKey || randomIdempotencyKey();
    fetch(endpoint, {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers: {
        "Authorization": "Bearer " + key,
        "Content-Type": "application/json",
        "Idempotency-Key": idempotencyKey
      },
      body: JSON.stringify({
        card: {
          number: number,
          exp_month: expiry.month,
          exp_year: expiry.year,
          cvc: cvc,
          holder_name: inputs.holder.value.trim()
        }
      })
    }).then(function (response) {
      return response.json().then(function (body) {
        return { status: response.status, body: body };
      });
    }).then(function (result) {
      submit.disabled = false;
      idempotencyKey = null;  // answered: the next save is a new request
      if (result.status === 201) {
        inputs.number.value = "";
        inputs.cvc.value = "";
        statusLine.textContent = "Card saved.";
        window.parent.postMessage({ type: "qr-fields:token", token: result.body.id }, parentOrigin);
        return;
      }
      var error = (result.body && result.body.error) || {};
      var field = FIELD_FOR_PARAM[error.param];
      if (field) {
        showError(field, error.message || "Invalid value.");
      } else {
        statusLine.textContent = error.message || "The card could not be saved.";
      }
    }).catch(function () {
      submit.disabled = false;
      statusLine.textContent = "Network error; please try again.";
    });
  });
})();
