/* Printable report: the toolbar's print button (no inline handler, for the CSP). */
document.querySelectorAll("[data-print]").forEach(function (button) {
  "use strict";
  button.addEventListener("click", function () { window.print(); });
});
