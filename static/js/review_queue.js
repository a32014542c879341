/* HQ's review queue: each fix form shows only the chosen category's fields. Without this
   script every group shows and the server reads only the chosen category's fields. */
(function () {
  "use strict";
  document.querySelectorAll(".review-form").forEach(function (form) {
    var select = form.querySelector("select[name$='-category']");
    if (!select) return;
    function show() {
      form.querySelectorAll(".category-group").forEach(function (group) {
        group.hidden = group.dataset.category !== select.value;
      });
    }
    select.addEventListener("change", show);
    show();
  });
})();
