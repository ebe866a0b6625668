/*
 * Demo merchant checkout (ours). Listens for the hosted fields' message and shows the token.
 * Accepts messages only from the vault's origin, and only the token message type. The message
 * carries the token alone; a real shop's server learns brand and last4 from the payment.
 */
(function () {
  "use strict";

  var root = document.getElementById("checkout");
  var vaultOrigin = root.dataset.vaultOrigin;

  window.addEventListener("message", function (event) {
    if (event.origin !== vaultOrigin) { return; }
    var data = event.data || {};
    if (data.type !== "qr-fields:token" || !/^tok_[0-9A-Za-z]+$/.test(data.token || "")) { return; }
    document.getElementById("token").textContent = data.token;
  });
})();
