/* Safe DOM building for every page script: the only way the project's scripts make markup.
 *
 * Text always goes in as text (text nodes, attribute values), never as HTML, so a district,
 * agency or facility name from the directory can never become markup. Styles go through
 * CSSOM (element.style), which the Content-Security-Policy allows, unlike style="" in HTML.
 * Load it before the page's own script; it defines window.KdrDom.
 */
(function () {
  "use strict";

  var URL_ATTRIBUTES = { href: true, src: true, action: true, formaction: true };

  // Only same-origin paths and http(s) URLs become links or image sources (no javascript:).
  function safeUrl(value) {
    try {
      var url = new URL(String(value), window.location.href);
      return url.protocol === "http:" || url.protocol === "https:";
    } catch (e) {
      return false;
    }
  }

  function append(node, child) {
    if (child == null || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(node, c); });
    } else if (child instanceof Node) {
      node.appendChild(child);
    } else {
      node.appendChild(document.createTextNode(String(child)));
    }
  }

  /* el("a", {href: url, class: "x", style: {"--c": colour}, dataset: {id: 3}}, "text", node, [...])
   * Attributes whose value is null, undefined or false are left out; true sets an empty one. */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    var names = attrs ? Object.keys(attrs) : [];
    names.forEach(function (name) {
      var value = attrs[name];
      if (value == null || value === false) return;
      if (name === "style") {
        Object.keys(value).forEach(function (prop) {
          if (value[prop] != null) node.style.setProperty(prop, String(value[prop]));
        });
      } else if (name === "dataset") {
        Object.keys(value).forEach(function (key) {
          if (value[key] != null) node.dataset[key] = String(value[key]);
        });
      } else if (/^on/i.test(name)) {
        throw new Error("KdrDom.el: use addEventListener, not the " + name + " attribute");
      } else if (URL_ATTRIBUTES[name.toLowerCase()] && !safeUrl(value)) {
        return;
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    });
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  // Replaces the node's children with the given ones (text, nodes or arrays of them).
  function fill(node) {
    node.textContent = "";
    for (var i = 1; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  // A fragment of text and nodes, for content without a wrapping element.
  function frag() {
    var f = document.createDocumentFragment();
    for (var i = 0; i < arguments.length; i++) append(f, arguments[i]);
    return f;
  }

  function content(value) {
    return value instanceof Node ? value : el("span", null, value);
  }

  /* Leaflet renders a string given to bindTooltip/bindPopup as HTML. These hand it a DOM node
   * instead: a string stays literal text. `value` is text, a node from el(), an array of them,
   * or a function returning one of those (built when the popup opens). */
  function tooltip(layer, value, options) {
    return layer.bindTooltip(content(Array.isArray(value) ? el("span", null, value) : value), options);
  }
  function popup(layer, build, options) {
    return layer.bindPopup(function () {
      var value = build();
      return content(Array.isArray(value) ? el("div", null, value) : value);
    }, options);
  }

  window.KdrDom = { el: el, fill: fill, frag: frag, tooltip: tooltip, popup: popup, safeUrl: safeUrl };
})();
