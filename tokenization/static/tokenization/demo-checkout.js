/*
 * Demo merchant checkout (ours). Listens for the hosted fields' message and shows the token.
 * Accepts messages only from the vault's origin, and only the token message type.
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
    var card = data.card || {};
    document.getElementById("card-summary").textContent =
      (card.brand || "card") + " ending " + (card.last4 || "????") +
      ", expires " + card.exp_month + "/" + card.exp_year;
  });
})();
