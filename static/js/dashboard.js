/* HQ dashboard: tiles, map, timeline, charts, live polling and as-of replay.
 *
 * Reads the same endpoints the API offers (URLs in #dashboard-config). Live mode polls the
 * situation with If-None-Match every few seconds; a 304 costs the server one index probe.
 * Only when something changed are the map, the timeline and the charts fetched again.
 */
(function () {
  "use strict";

  var el = KdrDom.el;
  var fill = KdrDom.fill;
  var cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
  var T = cfg.text;
  var csrfInput = document.querySelector("[name=csrfmiddlewaretoken]");
  var csrf = csrfInput ? csrfInput.value : "";
  var catStyle = {};
  cfg.categories.forEach(function (c) { catStyle[c.code] = c; });
  var kindStyle = {};
  cfg.facility_kinds.forEach(function (k) { kindStyle[k.code] = k; });

  var TZ = "Asia/Tokyo";
  var fmtHM = new Intl.DateTimeFormat("ja-JP", { timeZone: TZ, hour: "2-digit", minute: "2-digit" });
  var fmtHMS = new Intl.DateTimeFormat("ja-JP", { timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit" });
  var fmtMDHM = new Intl.DateTimeFormat("ja-JP", { timeZone: TZ, month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
  var fmtYMD = new Intl.DateTimeFormat("ja-JP", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" });
  var fmtFull = new Intl.DateTimeFormat("ja-JP", { timeZone: TZ, year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });

  var state = {
    asOf: null,            // null: live; otherwise an ISO string with +09:00
    etags: {},
    timelineMaxId: 0,
    timelineCursor: null,
    timelineLoaded: false,
    mapLoaded: false,
    chartWindow: "24h",
    seriesAt: 0,
    pollTimer: null,
    busy: false,
    pending: false,
    gen: 0,
    tileValues: {},
  };

  // --- small helpers ---------------------------------------------------------------------

  function tr(template, vars) {
    return template.replace(/%\((\w+)\)s/g, function (_m, k) { return vars[k]; });
  }
  function num(n) { return n == null ? "–" : Number(n).toLocaleString("ja-JP"); }
  function sameDay(a, b) { return fmtYMD.format(a) === fmtYMD.format(b); }
  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return sameDay(d, new Date()) ? fmtHM.format(d) : fmtMDHM.format(d);
  }
  function tokyoParts(date) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    return parts;
  }
  function toLocalInput(date) {
    var p = tokyoParts(date);
    return p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute;
  }
  function withParams(url, params) {
    var u = new URL(url, window.location.origin);
    Object.keys(params).forEach(function (k) {
      if (params[k] != null && params[k] !== "") u.searchParams.set(k, params[k]);
    });
    return u.pathname + u.search;
  }

  async function getJSON(url, key) {
    var headers = { Accept: "application/json" };
    var known = key && state.etags[key];
    if (known && known.url === url && known.tag) headers["If-None-Match"] = known.tag;
    var res = await fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" });
    if (res.status === 304) return null;
    if (!res.ok) throw new Error("HTTP " + res.status);
    if (key) state.etags[key] = { url: url, tag: res.headers.get("ETag") };
    return res.json();
  }

  async function post(url, data) {
    var body = new URLSearchParams(data || {});
    var res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf },
      body: body,
    });
    if (!res.ok) throw new Error("HTTP " + res.status);
    return res.json();
  }

  function flash(node) {
    node.classList.remove("changed");
    void node.offsetWidth;
    node.classList.add("changed");
  }

  // --- tiles -----------------------------------------------------------------------------

  function metaText(tile) {
    if (!tile || !tile.reports) return T.no_reports;
    return tr(T.as_of_at, { t: when(tile.updated_at) }) + " · " + tr(T.reports_n, { n: num(tile.reports) });
  }

  function setTile(key, value, unit, items, meta, extraClass, sub) {
    var node = document.querySelector('[data-tile="' + key + '"]');
    if (!node) return;
    var text = num(value);
    if (state.tileValues[key] !== undefined && state.tileValues[key] !== text + (sub || "")) flash(node);
    state.tileValues[key] = text + (sub || "");
    node.querySelector(".num").textContent = text;
    node.querySelector(".unit").textContent = unit || "";
    node.querySelector(".tile-sub").textContent = sub || "";
    var shown = items.slice(0, 5);
    fill(node.querySelector(".tile-list"), shown,
      items.length > shown.length ? el("li", { class: "more" }, tr(T.others, { n: items.length - shown.length })) : null);
    node.querySelector(".tile-meta").textContent = meta || "";
    node.className = "tile" + (extraClass ? " " + extraClass : "");
  }

  // One line of a tile's list: the name, its value (text, nodes) and an optional extra node.
  function row(name, value, extra) {
    return el("li", null, el("span", { class: "name", title: name }, name), el("span", { class: "val" }, value), extra);
  }
  function tag(text, cls) { return el("span", { class: "tag" + (cls ? " " + cls : "") }, text); }

  function renderTiles(s) {
    var ev = s.evacuees;
    var shelters = ev.facilities.slice().sort(function (a, b) { return (b.count || 0) - (a.count || 0); });
    var full = 0;
    setTile("evacuees", ev.total, T.people, shelters.map(function (f) {
      var pct = f.capacity ? Math.round((100 * (f.count || 0)) / f.capacity) : null;
      if (pct != null && pct >= 90) full += 1;
      var bar = pct == null ? null :
        el("span", { class: "bar" + (pct >= 90 ? " full" : "") }, el("span", { style: { width: Math.min(pct, 100) + "%" } }));
      return row(f.facility, [el("b", null, num(f.count)),
        f.capacity ? el("span", { class: "cap" }, "/" + num(f.capacity) + " " + pct + "%") : null], bar);
    }), metaText(ev), full ? "alert" : "",
      ev.facilities.length ? tr(T.shelters_n, { n: ev.facilities.length }) + (full ? " · " + tr(T.full_n, { n: full }) : "") : "");

    var out = s.outage;
    setTile("outage", out.total_households, T.households, out.districts.map(function (d) {
      return row(d.district, [el("b", null, num(d.households)), T.households]);
    }), metaText(out), out.total_households ? "alert" : "",
      out.districts.length ? tr(T.districts_n, { n: out.districts.length }) : "");

    var rc = s.road_closure;
    setTile("road_closure", rc.closed, T.places, rc.roads.filter(function (r) { return r.passable !== true; }).map(function (r) {
      var label = [r.road, r.place].filter(Boolean).join(" ") || r.subject;
      return row(label, r.cause ? tag(cfg.fields.values[r.cause] || r.cause) : null);
    }), metaText(rc), rc.closed ? "alert" : "");

    var wl = s.water_level;
    setTile("water_level", wl.flooding, T.places + " " + T.water_flooding,
      wl.areas.map(function (a) {
        var trend = a.trend ? (cfg.fields.values[a.trend] || a.trend) : "";
        return row(a.area || a.subject, [
          a.flooding ? tag(T.water_flooding, "danger") : null,
          trend ? tag(trend, a.trend === "rising" ? "up" : "") : null,
          a.level_m != null ? " " + a.level_m + "m" : null]);
      }), metaText(wl), wl.flooding ? "danger" : (wl.rising ? "alert" : ""),
      T.water_rising + " " + num(wl.rising) + " " + T.places);

    var md = s.medical_capacity;
    setTile("medical_capacity", md.accepting, T.hospitals + " " + T.accepting,
      md.facilities.map(function (f) {
        var st = f.accepting === true ? tag(T.accepting, "ok") : (f.accepting === false ? tag(T.not_accepting, "danger") : null);
        return row(f.facility || f.subject, [st,
          f.beds_available != null ? [" ", el("span", { class: "cap" }, T.beds_available + " " + num(f.beds_available))] : null]);
      }), metaText(md), md.not_accepting ? "alert" : "",
      T.beds_available + " " + num(md.beds_available) + " " + T.beds +
      (md.not_accepting ? " · " + T.not_accepting + " " + num(md.not_accepting) : ""));

    var fi = s.fire;
    setTile("fire", fi.active, T.places, fi.areas.map(function (a) {
      return row(a.area || a.subject, [
        a.evacuation_order ? tag(T.evacuation_orders, "danger") : null,
        a.people != null ? [" ", el("span", { class: "cap" }, num(a.people) + T.people)] : null]);
    }), metaText(fi), fi.active ? "danger" : "",
      fi.evacuation_orders ? T.evacuation_orders + " " + num(fi.evacuation_orders) : "");

    setTile("incidents", s.incidents.open, T.cases, [
      el("li", null, el("a", { href: cfg.urls.incidents }, T.incident_list + " →")),
    ], "", s.incidents.open ? "alert" : "", T.incidents);

    setTile("silent", s.silent_agencies.length, T.agency, s.silent_agencies.map(function (a) {
      return row(a.name, a.last_report_at ? el("span", { class: "cap" }, when(a.last_report_at)) : tag(T.never));
    }), "", s.silent_agencies.length ? "danger" : "", T.silent_sub);

    renderSilence(s.silent_agencies);
  }

  // --- silence ---------------------------------------------------------------------------

  function renderSilence(list) {
    document.getElementById("silence-count").textContent = list.length ? "(" + list.length + ")" : "";
    var ul = document.getElementById("silence-list");
    if (!list.length) {
      fill(ul, el("li", { class: "empty" }, T.silent_none));
    } else {
      fill(ul, list.map(function (a) {
        var last = a.last_report_at ? T.last_report + " " + when(a.last_report_at) : T.never;
        var button = cfg.is_hq && !state.asOf
          ? el("button", { type: "button", class: "btn small remind", dataset: { agency: a.agency } }, T.remind)
          : null;
        return el("li", null,
          el("div", null, el("b", null, a.name), el("br"),
            el("small", null, last + " · " + tr(T.interval, { n: a.expected_interval_minutes }))),
          button);
      }));
    }
    renderSilenceLayer(list);
  }

  document.getElementById("silence-list").addEventListener("click", async function (ev) {
    var button = ev.target.closest("button.remind");
    if (!button) return;
    button.disabled = true;
    try {
      var data = await post(cfg.urls.remind.replace("__agency__", encodeURIComponent(button.dataset.agency)));
      var done = document.createElement("a");
      done.href = data.url;
      done.className = "reminded";
      done.textContent = T.reminded;
      button.replaceWith(done);
    } catch (e) {
      button.disabled = false;
      button.textContent = T.error;
    }
  });

  // --- map -------------------------------------------------------------------------------

  var mapNode = document.getElementById("map");
  // Marker clustering needs the zoom range even when there is no tile layer to define it.
  var map = L.map(mapNode, { center: cfg.center, zoom: cfg.zoom, minZoom: 8, maxZoom: 18, zoomControl: true });
  if (cfg.tiles.url) {
    var tileErrors = 0;
    var tiles = L.tileLayer(cfg.tiles.url, { attribution: cfg.tiles.attribution, maxZoom: 18 });
    tiles.on("tileerror", function () { if (++tileErrors >= 4) mapNode.classList.add("no-tiles"); });
    tiles.on("tileload", function () { tileErrors = 0; mapNode.classList.remove("no-tiles"); });
    tiles.addTo(map);
  } else {
    mapNode.classList.add("no-tiles");
    // Attributions are HTML by design (the tile provider's links); this one is plain text.
    map.attributionControl.addAttribution(el("span", null, T.no_tiles).outerHTML);
  }

  function pinIcon(code, isNew) {
    var s = catStyle[code] || { colour: "#444", glyph: "?" };
    return L.divIcon({
      className: "pin-icon" + (isNew ? " is-new" : ""),
      html: el("span", { class: "pin", style: { "--c": s.colour } }, s.glyph),
      iconSize: [30, 30],
      iconAnchor: [15, 15],
      popupAnchor: [0, -14],
    });
  }

  // Leaflet's layers control writes each layer's name as HTML. Here a name is a function that
  // builds the label's nodes, called each time the control redraws its list.
  var LayersControl = L.Control.Layers.extend({
    _addItem: function (obj) {
      var label = L.Control.Layers.prototype._addItem.call(this, L.extend({}, obj, { name: "" }));
      var name = label.firstChild.lastChild;
      fill(name, " ", obj.name());
      return label;
    },
  });
  function legendPin(c) { return el("span", { class: "legend-pin", style: { "--c": c.colour } }, c.glyph); }

  var groups = {};
  var overlays = [];
  cfg.categories.forEach(function (c) {
    var group = L.markerClusterGroup({
      showCoverageOnHover: false,
      maxClusterRadius: 40,
      spiderfyOnMaxZoom: true,
      iconCreateFunction: function (cluster) {
        return L.divIcon({
          className: "cluster-icon",
          html: el("span", { style: { "--c": c.colour } }, el("i", null, c.glyph), String(cluster.getChildCount())),
          iconSize: [44, 44],
        });
      },
    });
    group.addTo(map);
    groups[c.code] = group;
    overlays.push([group, function () { return [legendPin(c), " " + c.label]; }]);
  });
  var facilityLayer = L.layerGroup().addTo(map);
  var districtLayer = L.layerGroup().addTo(map);
  var silenceLayer = L.layerGroup().addTo(map);
  overlays.push([silenceLayer, function () { return [el("span", { class: "legend-ring" }), " " + T.silence_layer]; }]);
  overlays.push([facilityLayer, function () { return [el("span", { class: "legend-dot" }), " " + T.facilities]; }]);
  overlays.push([districtLayer, function () { return [el("span", { class: "legend-district" }), " " + T.districts]; }]);
  var layersControl = new LayersControl(null, null, { collapsed: window.innerWidth < 800, position: "topright" });
  overlays.forEach(function (o) { layersControl.addOverlay(o[0], o[1]); });
  layersControl.addTo(map);

  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("details", "map-legend");
    if (window.innerWidth >= 800) div.open = true;
    fill(div, el("summary", null, T.legend),
      cfg.categories.map(function (c) { return el("span", null, legendPin(c), c.label); }),
      cfg.facility_kinds.map(function (k) {
        return el("span", null, el("span", { class: "legend-dot", style: { "--c": k.colour } }), k.label);
      }),
      el("span", null, el("span", { class: "legend-ring" }), T.silence_layer));
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  legend.addTo(map);

  function formatValue(name, value) {
    if (value === true) return T.yes;
    if (value === false) return T.no;
    if (Array.isArray(value)) {
      return value.map(function (a) {
        return a && a.area ? a.area + (a.households != null ? " " + num(a.households) + T.households : "") : String(a);
      }).join("、");
    }
    if (typeof value === "number") return num(value);
    return cfg.fields.values[value] || String(value);
  }

  function popupNode(p) {
    var s = catStyle[p.category] || {};
    var labels = cfg.fields.fields[p.category] || [];
    var rows = labels.filter(function (l) {
      var v = p.fields[l[0]];
      return v != null && v !== "" && !(Array.isArray(v) && !v.length);
    }).map(function (l) {
      return [el("dt", null, l[1]), el("dd", null, formatValue(l[0], p.fields[l[0]]))];
    });
    if (!rows.length && p.fields.area) rows = [el("dt", null, T.districts), el("dd", null, p.fields.area)];
    return el("div", { class: "popup" },
      el("p", { class: "popup-cat", style: { "--c": s.colour || "#444" } }, (s.glyph || "") + " " + p.category_label),
      el("h3", null, p.subject),
      rows.length ? el("dl", null, rows) : null,
      p.text ? el("p", { class: "popup-text" }, p.text) : null,
      p.photo ? el("a", { href: p.photo, target: "_blank", rel: "noopener" },
        el("img", { class: "thumb", src: p.photo, alt: T.photo, loading: "lazy" })) : null,
      el("p", { class: "popup-meta" }, p.agency + " · " + T.observed + " " + when(p.observed_at) + " · " + p.number),
      p.url ? el("p", null, el("a", { href: p.url }, T.details + " →")) : null);
  }

  var markers = new Map();

  function renderMap(fc, highlight) {
    var seen = new Set();
    fc.features.forEach(function (f) {
      var p = f.properties;
      var key = p.category + "|" + p.subject;
      seen.add(key);
      var existing = markers.get(key);
      if (existing && existing.report === p.report && existing.recorded === p.recorded_at) return;
      var group = groups[p.category];
      if (!group) return;
      if (existing) existing.group.removeLayer(existing.marker);
      var isNew = highlight;
      var latlng = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var marker = L.marker(latlng, { icon: pinIcon(p.category, isNew), title: p.subject, riseOnHover: true });
      KdrDom.popup(marker, function () { return popupNode(p); }, { maxWidth: 300, minWidth: 200 });
      group.addLayer(marker);
      markers.set(key, { marker: marker, group: group, report: p.report, recorded: p.recorded_at, subject: p.subject, category: p.category });
      if (isNew) {
        setTimeout(function () { marker.setIcon(pinIcon(p.category, false)); }, 12000);
      }
    });
    markers.forEach(function (value, key) {
      if (!seen.has(key)) {
        value.group.removeLayer(value.marker);
        markers.delete(key);
      }
    });
    mapNode.dataset.features = String(markers.size);
  }

  function renderSilenceLayer(list) {
    silenceLayer.clearLayers();
    list.forEach(function (a) {
      a.facilities.forEach(function (f) {
        var ring = L.circleMarker([f.lat, f.lng], {
          radius: 16, color: "#c62828", weight: 3, dashArray: "5 4", fill: true, fillOpacity: 0.08,
          className: "silence-ring",
        });
        KdrDom.tooltip(ring, [T.silent + ": " + a.name, el("br"),
          a.last_report_at ? T.last_report + " " + when(a.last_report_at) : T.never]);
        ring.addTo(silenceLayer);
      });
    });
  }

  async function loadPlaces() {
    var data = await getJSON(cfg.urls.places);
    var bounds = [];
    data.features.forEach(function (f) {
      var p = f.properties;
      if (p.layer === "district_boundary") {
        var outline = L.geoJSON(f, { style: { color: "#52606d", weight: 1.5, dashArray: "4 3", fillColor: "#dde5ec", fillOpacity: 0.35 } });
        KdrDom.tooltip(outline, p.name);
        outline.addTo(districtLayer);
      } else if (p.layer === "district") {
        var ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
        bounds.push(ll);
        var centre = L.circleMarker(ll, { radius: 5, color: "#52606d", weight: 1, fillColor: "#fff", fillOpacity: 1, interactive: false });
        KdrDom.tooltip(centre, p.name, { permanent: true, direction: "right", className: "district-label", offset: [6, 0] });
        centre.addTo(districtLayer);
      } else if (p.layer === "facility") {
        var k = kindStyle[p.kind] || { colour: "#555" };
        var fl = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
        bounds.push(fl);
        var place = L.circleMarker(fl, { radius: 4, color: "#fff", weight: 1, fillColor: k.colour, fillOpacity: 0.9 });
        KdrDom.tooltip(place, [p.name, el("br"),
          el("small", null, p.kind_label + (p.capacity ? " · " + T.capacity + " " + num(p.capacity) : ""))]);
        place.addTo(facilityLayer);
      }
    });
    if (bounds.length > 1) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 13 });
  }

  // --- timeline --------------------------------------------------------------------------

  var filtersForm = document.getElementById("timeline-filters");
  var timelineList = document.getElementById("timeline-list");
  var moreButton = document.getElementById("timeline-more");

  function timelineUrl(cursor) {
    var f = new FormData(filtersForm);
    var until = state.asOf;
    var since = null;
    if (f.get("window")) {
      // Whole minutes, so the URL (and its ETag) stays the same between polls.
      var end = until ? new Date(until).getTime() : Math.floor(Date.now() / 60000) * 60000;
      since = new Date(end - Number(f.get("window")) * 3600 * 1000).toISOString();
    }
    return withParams(cfg.urls.timeline, {
      category: f.get("category"), agency: f.get("agency"), incident: f.get("incident"),
      since: since, until: until, cursor: cursor, page_size: 30,
    });
  }

  function incidentOptions(selected) {
    return [el("option", { value: "" }, T.no_incident)].concat(cfg.incidents.map(function (i) {
      return el("option", { value: i.id, selected: i.id === selected }, i.label);
    }));
  }

  function entryNode(e, isNew) {
    var s = e.category ? catStyle[e.category] : null;
    var number = e.number ? (e.url ? el("a", { href: e.url }, e.number) : e.number) :
      (e.url ? el("a", { href: e.url }, T.details) : null);
    var actions = null;
    if (cfg.is_hq && !state.asOf && e.report && (e.action === "report.original" || e.action === "report.correction") && e.report_status !== "withdrawn") {
      actions = el("div", { class: "entry-actions" },
        e.report_status === "new"
          ? el("button", { type: "button", class: "btn small ack", dataset: { report: e.report } }, T.acknowledge)
          : el("span", { class: "done" }, T.acknowledged),
        el("label", { class: "link-incident" }, T.link_incident + " ",
          el("select", { dataset: { report: e.report } }, incidentOptions(e.incident))));
    }
    return el("li", { class: "entry act-" + e.action.replace(".", "-") + (isNew ? " is-new" : ""), dataset: { id: e.id } },
      el("div", { class: "entry-head" },
        el("time", { datetime: e.at }, when(e.at)),
        el("span", { class: "badge" }, e.action_label),
        s ? el("span", { class: "chip", style: { "--c": s.colour } }, s.glyph + " " + e.category_label) : null,
        e.agency_name ? el("span", { class: "agency" }, e.agency_name) : null,
        isNew ? el("span", { class: "new-label" }, T.new) : null),
      el("p", { class: "summary" }, (e.summary || e.text || "") + " ", number),
      actions);
  }

  async function loadTimeline(reset, stale) {
    if (reset) {
      state.etags.timeline = null;
      state.timelineMaxId = 0;
    }
    var url = timelineUrl(null);
    var page = await getJSON(url, "timeline");
    if (!page || (stale && stale())) return;
    var maxId = state.timelineMaxId;
    var highlight = state.timelineLoaded && !reset && !state.asOf;
    var fresh = page.results.filter(function (e) { return e.id > maxId; });
    if (reset || !state.timelineLoaded || fresh.length >= page.results.length) {
      fill(timelineList, page.results.length
        ? page.results.map(function (e) { return entryNode(e, highlight && e.id > maxId); })
        : el("li", { class: "empty" }, T.empty_timeline));
      state.timelineCursor = page.next;
    } else if (fresh.length) {
      var empty = timelineList.querySelector(".empty");
      if (empty) empty.remove();
      timelineList.prepend.apply(timelineList, fresh.map(function (e) { return entryNode(e, true); }));
      // Entries already shown may have changed state (acknowledged): refresh them in place.
    }
    page.results.forEach(function (e) {
      var node = timelineList.querySelector('[data-id="' + e.id + '"]');
      if (node && e.id <= maxId && state.timelineLoaded && !reset) {
        var entry = entryNode(e, node.classList.contains("is-new"));
        if (!entry.isEqualNode(node)) node.replaceWith(entry);
      }
    });
    page.results.forEach(function (e) { if (e.id > state.timelineMaxId) state.timelineMaxId = e.id; });
    moreButton.hidden = !state.timelineCursor;
    state.timelineLoaded = true;
  }

  moreButton.addEventListener("click", async function () {
    if (!state.timelineCursor) return;
    moreButton.disabled = true;
    try {
      var page = await getJSON(state.timelineCursor);
      timelineList.append.apply(timelineList, page.results.map(function (e) { return entryNode(e, false); }));
      state.timelineCursor = page.next;
      moreButton.hidden = !page.next;
    } finally {
      moreButton.disabled = false;
    }
  });

  filtersForm.addEventListener("change", function () { loadTimeline(true).catch(showOffline); });

  timelineList.addEventListener("click", async function (ev) {
    var button = ev.target.closest("button.ack");
    if (!button) return;
    button.disabled = true;
    try {
      await post(cfg.urls.acknowledge.replace("/0/", "/" + button.dataset.report + "/"));
      var done = document.createElement("span");
      done.className = "done";
      done.textContent = T.acknowledged;
      button.replaceWith(done);
    } catch (e) {
      button.disabled = false;
      button.textContent = T.error;
    }
  });

  timelineList.addEventListener("change", async function (ev) {
    var select = ev.target.closest("select[data-report]");
    if (!select) return;
    select.disabled = true;
    try {
      await post(cfg.urls.link.replace("/0/", "/" + select.dataset.report + "/"), { incident: select.value });
      select.classList.add("saved");
    } catch (e) {
      select.classList.add("failed");
    } finally {
      select.disabled = false;
    }
  });

  // --- charts ----------------------------------------------------------------------------

  var charts = {};
  function tickLabel(value) {
    var d = new Date(value);
    return state.chartWindow === "24h" ? fmtHM.format(d) : fmtMDHM.format(d);
  }
  function makeChart(id, colour) {
    if (!window.Chart) return null;
    return new window.Chart(document.getElementById(id), {
      type: "line",
      data: { datasets: [{ data: [], borderColor: colour, backgroundColor: colour + "22", fill: true, pointRadius: 0, borderWidth: 2, tension: 0.15 }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { type: "linear", ticks: { callback: tickLabel, maxTicksLimit: 7, maxRotation: 0 } },
          y: { beginAtZero: true, ticks: { callback: function (v) { return num(v); } } },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) { return fmtFull.format(new Date(items[0].parsed.x)); },
            label: function (item) { return num(item.parsed.y); },
          } },
        },
      },
    });
  }

  async function loadSeries(force) {
    if (!window.Chart) return;
    if (!force && Date.now() - state.seriesAt < 30000) return;
    state.seriesAt = Date.now();
    var data = await getJSON(withParams(cfg.urls.series, { window: state.chartWindow, as_of: state.asOf }), "series");
    if (!data) return;
    if (!charts.evacuees) {
      charts.evacuees = makeChart("chart-evacuees", catStyle.evacuees.colour);
      charts.outage = makeChart("chart-outage", catStyle.outage.colour);
    }
    ["evacuees", "outage"].forEach(function (key) {
      var chart = charts[key];
      chart.data.datasets[0].data = data[key].map(function (p) { return { x: new Date(p.t).getTime(), y: p.value }; });
      chart.options.scales.x.min = new Date(data.start).getTime();
      chart.options.scales.x.max = new Date(data.as_of).getTime();
      chart.update();
    });
  }

  document.querySelectorAll(".segmented [data-window]").forEach(function (button) {
    button.addEventListener("click", function () {
      state.chartWindow = button.dataset.window;
      document.querySelectorAll(".segmented [data-window]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b === button));
      });
      loadSeries(true).catch(showOffline);
    });
  });

  // --- live polling and as-of ------------------------------------------------------------

  var liveState = document.getElementById("live-state");
  var liveLabel = document.getElementById("live-label");
  var lastUpdated = document.getElementById("last-updated");

  function showOffline() {
    liveState.dataset.state = "offline";
    liveLabel.textContent = T.offline;
  }
  function showOk() {
    liveState.dataset.state = state.asOf ? "replay" : "live";
    liveLabel.textContent = state.asOf ? T.replay : T.live;
    lastUpdated.textContent = fmtHMS.format(new Date());
  }

  // One refresh at a time. A request issued before the as-of time changed is stale: its
  // answer is dropped and a forced refresh for the new time runs after it.
  async function refresh(force) {
    if (state.busy) {
      if (force) state.pending = true;
      else if (!state.pending) state.pending = "again";
      return;
    }
    state.busy = true;
    // A forced refresh must render, so it asks without If-None-Match.
    if (force) state.etags = {};
    var gen = state.gen;
    var stale = function () { return gen !== state.gen; };
    try {
      var situation = await getJSON(withParams(cfg.urls.situation, { as_of: state.asOf }), "situation");
      if (stale()) return;
      var changed = situation !== null || force;
      if (situation) renderTiles(situation);
      if (changed || !state.mapLoaded) {
        var fc = await getJSON(withParams(cfg.urls.map, { as_of: state.asOf }), "map");
        if (stale()) return;
        if (fc) {
          renderMap(fc, state.mapLoaded && !state.asOf && !force);
          state.mapLoaded = true;
        }
        await loadTimeline(force, stale);
        if (stale()) return;
        await loadSeries(force);
      }
      if (!stale()) showOk();
    } catch (e) {
      if (!stale()) showOffline();
    } finally {
      state.busy = false;
      if (state.pending) {
        var again = state.pending === true;
        state.pending = false;
        refresh(again);
      }
    }
  }

  function schedule() {
    clearTimeout(state.pollTimer);
    if (state.asOf) return;
    state.pollTimer = setTimeout(async function () {
      if (!document.hidden) await refresh(false);
      schedule();
    }, cfg.poll_ms);
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !state.asOf) refresh(false).then(schedule);
  });

  // The as-of form is driven by its inputs; Enter must not submit it.
  document.getElementById("asof-form").addEventListener("submit", function (ev) { ev.preventDefault(); });
  var asofInput = document.getElementById("asof-input");
  var asofSlider = document.getElementById("asof-slider");
  var asofNow = document.getElementById("asof-now");
  var asofBanner = document.getElementById("asof-banner");
  var printLink = document.getElementById("print-link");
  var eventStart = new Date(cfg.event_start).getTime();

  function setAsOf(date) {
    clearTimeout(state.pollTimer);
    state.gen += 1;
    state.asOf = date ? toLocalInput(date) + ":00+09:00" : null;
    state.etags = {};
    state.seriesAt = 0;
    liveState.dataset.state = date ? "replay" : "live";
    liveLabel.textContent = date ? T.replay : T.live;
    if (date) {
      asofInput.value = toLocalInput(date);
      asofBanner.textContent = tr(T.as_of_banner, { t: fmtFull.format(date) });
      asofBanner.hidden = false;
      asofNow.disabled = false;
      document.body.classList.add("replaying");
      printLink.href = withParams(cfg.urls.print, { as_of: state.asOf });
    } else {
      asofInput.value = "";
      asofSlider.value = asofSlider.max;
      asofBanner.hidden = true;
      asofNow.disabled = true;
      document.body.classList.remove("replaying");
      printLink.href = cfg.urls.print;
    }
    refresh(true).then(schedule);
  }

  var sliderTimer = null;
  asofSlider.addEventListener("input", function () {
    var now = Date.now();
    var frac = Number(asofSlider.value) / Number(asofSlider.max);
    var t = new Date(eventStart + frac * (now - eventStart));
    asofInput.value = toLocalInput(t);
    clearTimeout(sliderTimer);
    sliderTimer = setTimeout(function () { setAsOf(frac >= 0.999 ? null : t); }, 250);
  });
  asofInput.addEventListener("change", function () {
    if (!asofInput.value) { setAsOf(null); return; }
    var t = new Date(asofInput.value + ":00+09:00");
    if (isNaN(t.getTime())) return;
    if (t.getTime() >= Date.now()) { setAsOf(null); return; }
    var frac = (t.getTime() - eventStart) / Math.max(1, Date.now() - eventStart);
    asofSlider.value = String(Math.round(Math.max(0, Math.min(1, frac)) * Number(asofSlider.max)));
    setAsOf(t);
  });
  asofNow.addEventListener("click", function () { setAsOf(null); });

  // For operators' scripts and browser tests: what the map shows right now.
  window.kdrDashboard = {
    subjects: function () { return Array.from(markers.values()).map(function (m) { return m.category + ":" + m.subject; }); },
    setAsOf: function (iso) { setAsOf(iso ? new Date(iso) : null); },
  };

  loadPlaces().catch(function () { /* the situation layers still work */ });
  refresh(true).then(schedule);
})();
