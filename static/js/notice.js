/* Notice page: delivery and 了解 per agency, live (polls the API with If-None-Match). */
(function () {
  "use strict";
  var table = document.getElementById("recipients");
  if (!table) return;
  var T = JSON.parse(document.getElementById("notice-text").textContent);
  var url = table.dataset.api;
  var etag = null;
  var TZ = "Asia/Tokyo";
  var fmtHM = new Intl.DateTimeFormat("ja-JP", { timeZone: TZ, hour: "2-digit", minute: "2-digit" });
  var fmtHMS = new Intl.DateTimeFormat("ja-JP", { timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function esc(v) {
    return String(v == null ? "" : v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function hm(iso) { return iso ? fmtHM.format(new Date(iso)) : ""; }

  function render(data) {
    data.recipients.forEach(function (r) {
      var row = table.querySelector('tr[data-agency="' + CSS.escape(r.agency) + '"]');
      if (!row) return;
      var delivery = '<span class="status status-' + esc(r.delivery_status) + '">' + esc(r.delivery_status_label) + "</span>" +
        (r.delivered_at ? " " + hm(r.delivered_at) : "") + (r.delivery_error ? " <small>" + esc(r.delivery_error) + "</small>" : "");
      var ack = r.acknowledged
        ? '<span class="status status-ack">' + esc(T.ack) + "</span> " + hm(r.acknowledged_at) + (r.acknowledged_via ? " <small>(" + (r.acknowledged_via === "lineworks" ? "LINE WORKS" : "Web") + ")</small>" : "")
        : '<span class="status status-unack">' + esc(T.unack) + "</span>";
      var cells = row.querySelectorAll("td");
      var changed = false;
      if (cells[1].innerHTML !== delivery) { cells[1].innerHTML = delivery; changed = true; }
      if (cells[2].innerHTML !== ack) { cells[2].innerHTML = ack; changed = true; }
      if (changed) { row.classList.remove("row-flash"); void row.offsetWidth; row.classList.add("row-flash"); }
    });
    ["sent", "acknowledged", "failed"].forEach(function (k) {
      var node = document.querySelector('[data-count="' + k + '"]');
      if (node) node.textContent = data.counts[k];
    });
  }

  async function poll() {
    try {
      var headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      var res = await fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" });
      if (res.status === 200) {
        etag = res.headers.get("ETag");
        render(await res.json());
      }
      if (res.status === 200 || res.status === 304) {
        document.getElementById("notice-updated").textContent = fmtHMS.format(new Date());
      }
    } catch (e) { /* keep polling */ }
    setTimeout(poll, document.hidden ? 10000 : 3000);
  }
  setTimeout(poll, 1000);
})();
