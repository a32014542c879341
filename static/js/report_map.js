/* Map helpers for the report pages. Without configured tiles the map is a plain background
   with district points as labelled reference markers, so it stays usable offline.
   The page hands the map its settings in #map-config (centre, zoom, tiles); the map is made
   here rather than by an inline script, so the Content-Security-Policy needs none. */
(function () {
  "use strict";
  var dom = window.KdrDom;

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // A Leaflet map in the element with that id, with the configured tiles (if any).
  function create(id) {
    var box = document.getElementById(id);
    var cfg = readJSON("map-config") || {};
    var map = L.map(box, {
      center: cfg.center, zoom: cfg.zoom, minZoom: cfg.min_zoom, maxZoom: cfg.max_zoom
    });
    if (cfg.tiles && cfg.tiles.url) {
      L.tileLayer(cfg.tiles.url, {
        attribution: cfg.tiles.attribution, minZoom: cfg.min_zoom, maxZoom: cfg.max_zoom
      }).addTo(map);
    }
    L.control.scale({ imperial: false }).addTo(map);
    return map;
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
      var point = L.circleMarker([d.lat, d.lng], {
        radius: 4, color: "#5b6470", weight: 1, fillColor: "#fff", fillOpacity: 1,
        interactive: false
      });
      dom.tooltip(point, d.name, {
        permanent: true, direction: "right", offset: [8, 0], className: "district-label",
        interactive: false
      });
      point.addTo(layer);
    });
    layer.addTo(map);
    return layer;
  }

  window.KdrMap = { readJSON: readJSON, create: create, addDistricts: addDistricts };
})();
