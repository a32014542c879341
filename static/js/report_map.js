/* Map helpers for the report pages. Without configured tiles the map is a plain background
   with district points as labelled reference markers, so it stays usable offline. */
(function () {
  "use strict";

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function addDistricts(map, districts) {
    var layer = L.featureGroup();
    (districts || []).forEach(function (d) {
      if (d.boundary) {
        L.geoJSON(d.boundary, {
          interactive: false,
          style: { color: "#8a97a5", weight: 1, fill: false }
        }).addTo(layer);
      }
      L.circleMarker([d.lat, d.lng], {
        radius: 4, color: "#5b6470", weight: 1, fillColor: "#fff", fillOpacity: 1,
        interactive: false
      }).bindTooltip(d.name, {
        permanent: true, direction: "right", offset: [8, 0], className: "district-label",
        interactive: false
      }).addTo(layer);
    });
    layer.addTo(map);
    return layer;
  }

  window.KdrMap = { readJSON: readJSON, addDistricts: addDistricts };

  // Report detail: a small read-only map with the report's point.
  window.addEventListener("map:init", function (event) {
    if (event.detail.id !== "report-location") return;
    var map = event.detail.map;
    var box = document.getElementById("report-location");
    var point = [parseFloat(box.dataset.lat), parseFloat(box.dataset.lng)];
    addDistricts(map, readJSON("map-districts"));
    L.circleMarker(point, {
      radius: 9, color: "#b3261e", weight: 3, fillColor: "#b3261e", fillOpacity: 0.5
    }).addTo(map);
    map.setView(point, 13);
  });
})();
