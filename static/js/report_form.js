/* The report form: the category's fields follow the chosen category, outage rows grow on
   demand, the map sets the location, and a chat message can pre-fill the form. Without this
   script every group shows and the server reads only the chosen category's fields. */
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) return;
  var i18n = document.getElementById("report-form-i18n").dataset;
  document.documentElement.classList.add("js");
  form.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });

  var el = function (name) { return form.elements.namedItem(name); };
  var category = el("category");
  var hint = document.getElementById("category-hint");

  // --- Category groups ---------------------------------------------------------------
  function showCategory() {
    var chosen = category.value;
    form.querySelectorAll(".category-group").forEach(function (group) {
      group.hidden = group.dataset.category !== chosen;
    });
    if (hint) hint.hidden = !!chosen;
  }
  category.addEventListener("change", showCategory);
  showCategory();

  // --- Outage area rows --------------------------------------------------------------
  function rowEmpty(row) {
    return Array.prototype.every.call(row.querySelectorAll("input"), function (i) {
      return !i.value;
    });
  }
  function refreshAreaButton(box) {
    var hiddenRows = box.querySelectorAll("[data-area-row][hidden]");
    box.querySelector("[data-add-area]").hidden = hiddenRows.length === 0;
  }
  form.querySelectorAll("[data-areas]").forEach(function (box) {
    box.querySelectorAll("[data-area-row].extra").forEach(function (row) {
      if (rowEmpty(row) && !row.querySelector(".error")) row.hidden = true;
    });
    box.querySelector("[data-add-area]").addEventListener("click", function () {
      var next = box.querySelector("[data-area-row][hidden]");
      if (next) { next.hidden = false; next.querySelector("input").focus(); }
      refreshAreaButton(box);
    });
    refreshAreaButton(box);
  });

  // --- Facility picker fills the category's facility name ------------------------------
  var facilities = KdrMap.readJSON("map-facilities") || {};
  var facility = el("facility");
  var autoFilled = {};
  facility.addEventListener("change", function () {
    var option = facility.options[facility.selectedIndex];
    var name = facility.value ? option.text : "";
    ["evacuees__facility", "medical_capacity__facility"].forEach(function (fieldName) {
      var input = el(fieldName);
      if (input && (!input.value || input.value === autoFilled[fieldName])) {
        input.value = name;
        autoFilled[fieldName] = name;
      }
    });
    var place = facilities[facility.value];
    if (place && mapApi && !el("lat").value) mapApi.setPoint(place.lat, place.lng, 15);
  });

  // --- Map -----------------------------------------------------------------------------
  var mapApi = null;
  var status = document.getElementById("map-status");
  function say(target, text, isError) {
    target.textContent = text;
    target.classList.toggle("error", !!isError);
  }

  (function () {
    var map = KdrMap.create("report-map");
    var reference = KdrMap.addDistricts(map, KdrMap.readJSON("map-districts"));
    var marker = null;

    function setPoint(lat, lng, zoom) {
      lat = Math.round(lat * 1e6) / 1e6;
      lng = Math.round(lng * 1e6) / 1e6;
      el("lat").value = lat;
      el("lng").value = lng;
      if (!marker) {
        marker = L.marker([lat, lng], { draggable: true, title: i18n.point }).addTo(map);
        marker.on("dragend", function () {
          var p = marker.getLatLng();
          setPoint(p.lat, p.lng);
        });
      } else {
        marker.setLatLng([lat, lng]);
      }
      if (zoom) map.setView([lat, lng], zoom);
      say(status, i18n.pointSet);
    }
    function clearPoint() {
      if (marker) { map.removeLayer(marker); marker = null; }
      el("lat").value = "";
      el("lng").value = "";
      say(status, "");
    }
    function fromInputs() {
      var lat = parseFloat(el("lat").value), lng = parseFloat(el("lng").value);
      if (isFinite(lat) && isFinite(lng)) setPoint(lat, lng); else if (marker) clearPoint();
    }
    mapApi = { setPoint: setPoint };

    map.on("click", function (e) { setPoint(e.latlng.lat, e.latlng.lng); });
    el("lat").addEventListener("change", fromInputs);
    el("lng").addEventListener("change", fromInputs);
    document.getElementById("clear-point").addEventListener("click", clearPoint);

    if (el("lat").value && el("lng").value) {
      fromInputs();
      map.setView([parseFloat(el("lat").value), parseFloat(el("lng").value)], 14);
    } else if (reference.getLayers().length) {
      map.fitBounds(reference.getBounds(), { padding: [30, 30] });
    }

    var locate = document.getElementById("locate-me");
    if (!("geolocation" in navigator)) { locate.hidden = true; return; }
    locate.addEventListener("click", function () {
      say(status, i18n.locating);
      navigator.geolocation.getCurrentPosition(function (pos) {
        setPoint(pos.coords.latitude, pos.coords.longitude, 15);
      }, function (err) {
        var text = err.code === 1 ? i18n.geoDenied : err.code === 3 ? i18n.geoTimeout : i18n.geoFailed;
        say(status, text, true);
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  })();

  // --- "Paste a chat message" ----------------------------------------------------------
  var pasteBox = document.getElementById("paste-box");
  if (!pasteBox) return;
  var pasteText = document.getElementById("paste-text");
  var pasteRun = document.getElementById("paste-run");
  var pasteStatus = document.getElementById("paste-status");

  function labelOf(name) {
    var input = el(name);
    var label = input && form.querySelector('label[for="' + input.id + '"]');
    return label ? label.childNodes[0].textContent.trim() : name;
  }
  function setValue(name, value) {
    var input = el(name);
    if (!input) return;
    if (value === null || value === undefined) input.value = "";
    else if (typeof value === "boolean") input.value = value ? "true" : "false";
    else input.value = String(value);
  }
  function tokyoLocal(iso) {
    var m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(?::[\d.]+)?\+09:00$/.exec(iso);
    if (m) return m[1];
    var date = new Date(iso);
    if (isNaN(date)) return "";
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: "Asia/Tokyo", hourCycle: "h23", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit"
    }).formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
  }
  function fill(result, text) {
    var code = result.category;
    if (!code || !form.querySelector('.category-group[data-category="' + code + '"]')) {
      throw new Error("unknown category");
    }
    category.value = code;
    showCategory();
    var fields = result.fields || {};
    Object.keys(fields).forEach(function (key) {
      var value = fields[key];
      if (key === "areas") {
        var box = form.querySelector('.category-group[data-category="' + code + '"] [data-areas]');
        var rows = box ? box.querySelectorAll("[data-area-row]") : [];
        Array.prototype.forEach.call(rows, function (row, i) {
          var item = (value || [])[i];
          setValue(code + "__areas_" + i + "_area", item ? item.area : null);
          setValue(code + "__areas_" + i + "_hh", item ? item.households : null);
          if (item) row.hidden = false;
        });
        if (box) refreshAreaButton(box);
      } else {
        setValue(code + "__" + key, value);
      }
      if (key === "facility" && value) {
        Array.prototype.forEach.call(facility.options, function (option) {
          if (option.text === value) facility.value = option.value;
        });
      }
    });
    if (result.observed_at) {
      var local = tokyoLocal(result.observed_at);
      if (local) el("observed_at").value = local;
    }
    if (!el("text").value.trim()) el("text").value = text;
    var message = i18n.filled.replace("%(category)s",
      category.options[category.selectedIndex].text);
    if (typeof result.confidence === "number") {
      message += " " + i18n.confidence.replace("%(p)s", Math.round(result.confidence * 100) + "%");
    }
    var missing = (result.missing || []).map(function (name) { return labelOf(code + "__" + name); });
    if (missing.length) message += " " + i18n.missing.replace("%(fields)s", missing.join("、"));
    say(pasteStatus, message);
  }

  function parseRequest(text) {
    // HQ records on behalf of an agency: the parser reads the text as sent by that agency.
    var codes = KdrMap.readJSON("agency-codes") || {};
    var agency = el("agency");
    var body = { text: text };
    if (agency && codes[agency.value]) body.agency = codes[agency.value];
    return body;
  }

  pasteRun.addEventListener("click", function () {
    var text = pasteText.value.trim();
    if (!text) { say(pasteStatus, i18n.pasteEmpty, true); pasteText.focus(); return; }
    say(pasteStatus, i18n.parsing);
    pasteRun.disabled = true;
    fetch(pasteBox.dataset.parseUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": el("csrfmiddlewaretoken").value
      },
      body: JSON.stringify(parseRequest(text))
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (result) {
      fill(result, text);
    }).catch(function () {
      say(pasteStatus, i18n.parseFailed, true);
    }).then(function () {
      pasteRun.disabled = false;
    });
  });
})();
