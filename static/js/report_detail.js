/* Report detail: a small read-only map with the report's point. */
(function () {
  "use strict";
  var box = document.getElementById("report-location");
  if (!box) return;
  var map = KdrMap.create("report-location");
  var point = [parseFloat(box.dataset.lat), parseFloat(box.dataset.lng)];
  KdrMap.addDistricts(map, KdrMap.readJSON("map-districts"));
  L.circleMarker(point, {
    radius: 9, color: "#b3261e", weight: 3, fillColor: "#b3261e", fillOpacity: 0.5
  }).addTo(map);
  map.setView(point, 13);
})();
