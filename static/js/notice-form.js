/* Notice form: "全機関へ送る" disables the per-agency choices. */
(function () {
  "use strict";
  var all = document.getElementById("id_all_agencies");
  var box = document.getElementById("agency-choices");
  var inputs = box ? box.querySelectorAll("input") : [];
  if (!all || !box) return;
  function sync() {
    inputs.forEach(function (i) { i.disabled = all.checked; });
    box.style.opacity = all.checked ? ".5" : "1";
  }
  all.addEventListener("change", sync);
  sync();
})();
