/* Report list: on a wide screen the filters start open; on a phone they stay folded. */
(function () {
  "use strict";
  var filters = document.getElementById("report-filters");
  if (filters && window.matchMedia("(min-width: 760px)").matches) filters.open = true;
})();
