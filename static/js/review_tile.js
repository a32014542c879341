/* The dashboard's 要確認 tile and the menu badge: keep the count of reports awaiting HQ's review current (every
   30 s while the page is visible), from the reports API's needs_review filter. */
(function () {
  "use strict";
  var tile = document.getElementById("review-tile");
  if (!tile || !tile.dataset.countUrl) return;
  var num = tile.querySelector(".num");
  var badge = document.querySelector(".nav-review .count-badge");
  async function update() {
    if (document.hidden) return;
    try {
      var res = await fetch(tile.dataset.countUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!res.ok) return;
      var count = (await res.json()).count;
      num.textContent = count.toLocaleString("ja-JP");
      tile.classList.toggle("alert", count > 0);
      if (badge) {
        badge.textContent = count.toLocaleString("ja-JP");
        badge.classList.toggle("zero", count === 0);
      }
    } catch (e) {
      /* offline: the dashboard's own state shows it; keep the last count */
    }
  }
  setInterval(update, 30000);
  document.addEventListener("visibilitychange", update);
})();
