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

  var el = KdrDom.el;
  function hm(iso) { return iso ? fmtHM.format(new Date(iso)) : ""; }

  // Puts the new content in the cell when it differs; true when it did.
  function update(cell, nodes) {
    var probe = el("td", null, nodes);
    if (probe.innerHTML === cell.innerHTML) return false;
    KdrDom.fill(cell, Array.from(probe.childNodes));
    return true;
  }

  function render(data) {
    data.recipients.forEach(function (r) {
      var row = table.querySelector('tr[data-agency="' + CSS.escape(r.agency) + '"]');
      if (!row) return;
      var delivery = [
        el("span", { class: "status status-" + r.delivery_status }, r.delivery_status_label),
        r.delivered_at ? " " + hm(r.delivered_at) : null,
        r.delivery_error ? [" ", el("small", null, r.delivery_error)] : null,
      ];
      var ack = r.acknowledged
        ? [
          el("span", { class: "status status-ack" }, T.ack), " " + hm(r.acknowledged_at),
          r.acknowledged_via
            ? [" ", el("small", null, "(" + (r.acknowledged_via === "lineworks" ? "LINE WORKS" : "Web") + ")")]
            : null,
        ]
        : [el("span", { class: "status status-unack" }, T.unack)];
      var cells = row.querySelectorAll("td");
      var changed = update(cells[1], delivery);
      changed = update(cells[2], ack) || changed;
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
