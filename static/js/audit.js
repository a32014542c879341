// Auditor pages: show only changed rows in a report's history, confirm before publishing the
// chain head, copy a hash with one tap. Everything works without this script too.
(function () {
  "use strict";

  var toggle = document.querySelector("[data-audit-only-changed]");
  if (toggle) {
    var section = toggle.closest("section");
    var apply = function () { section.classList.toggle("only-changed", toggle.checked); };
    toggle.addEventListener("change", apply);
    apply();
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  document.querySelectorAll("[data-copy]").forEach(function (el) {
    el.setAttribute("title", el.getAttribute("title") || "クリックでコピー");
    el.addEventListener("click", function () {
      if (!navigator.clipboard) { return; }
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        el.classList.add("copied");
        window.setTimeout(function () { el.classList.remove("copied"); }, 1500);
      });
    });
  });
})();
