// The LINE WORKS demo page: type as a member of an agency's talk room and watch the bot.
// Data comes from the template (json_script + data-* URLs); no globals are read.
(function () {
  "use strict";
  var root = document.getElementById("demo");
  if (!root) return;
  var agencies = JSON.parse(document.getElementById("demo-agencies").textContent);
  var sendUrl = root.dataset.sendUrl;
  var feedUrl = root.dataset.feedUrl;
  var agencySelect = document.getElementById("demo-agency");
  var memberSelect = document.getElementById("demo-member");
  var talk = document.getElementById("demo-talk");
  var statusLine = document.getElementById("demo-status");
  var text = document.getElementById("demo-text");
  var csrf = document.querySelector("#demo-compose input[name=csrfmiddlewaretoken]").value;
  var T = root.dataset;
  var lastKey = "";
  var timer = null;

  function option(value, label) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    return o;
  }

  agencies.forEach(function (a) { agencySelect.appendChild(option(a.code, a.name)); });

  function currentAgency() {
    return agencies.find(function (a) { return a.code === agencySelect.value; }) || agencies[0];
  }

  function fillMembers() {
    memberSelect.textContent = "";
    currentAgency().members.forEach(function (m) { memberSelect.appendChild(option(m.id, m.name)); });
  }

  function setStatus(message, isError) {
    statusLine.textContent = message || "";
    statusLine.classList.toggle("error", !!isError);
  }

  function send(payload) {
    payload.agency = currentAgency().code;
    payload.member = memberSelect.value;
    setStatus(T.tSending);
    return fetch(sendUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        setStatus(body.status === 200 ? "" : T.tResponse.replace("%(s)s", body.status), body.status !== 200);
        poll();
      });
    }).catch(function (err) { setStatus(err.message, true); });
  }

  function bubble(item) {
    var div = document.createElement("div");
    div.className = "bubble " + (item.from === "bot" ? "bot" : "member");
    var who = document.createElement("span");
    who.className = "who";
    var time = item.at ? new Date(item.at).toLocaleTimeString(document.documentElement.lang || "ja", { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Tokyo" }) : "";
    who.textContent = (item.from === "bot" ? T.tBot : (item.name || "")) + " " + time;
    div.appendChild(who);
    var c = item.content || {};
    var body = document.createElement("div");
    if (c.type === "text") body.textContent = c.text;
    else if (c.type === "button_template") body.textContent = c.contentText;
    else if (c.type === "location") body.textContent = T.tLocation + (c.address || "") + " (" + c.latitude + ", " + c.longitude + ")";
    else if (c.type === "image") body.textContent = T.tPhoto;
    else body.textContent = "[" + (c.type || "?") + "]";
    div.appendChild(body);
    if (c.type === "button_template" && Array.isArray(c.actions)) {
      var buttons = document.createElement("div");
      buttons.className = "buttons";
      c.actions.forEach(function (action) {
        if (action.type !== "message") return;
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = action.label;
        b.addEventListener("click", function () {
          send({ kind: "text", text: action.text || action.label, postback: action.postback || "" });
        });
        buttons.appendChild(b);
      });
      div.appendChild(buttons);
    }
    return div;
  }

  function render(data) {
    var items = data.items || [];
    var key = items.length + ":" + (items.length ? items[items.length - 1].seq : 0);
    if (key !== lastKey) {
      lastKey = key;
      talk.textContent = "";
      items.forEach(function (item) { talk.appendChild(bubble(item)); });
      talk.scrollTop = talk.scrollHeight;
    }
    var s = data.situation || {};
    [["evacuees", T.tPeople], ["outage", T.tHouseholds], ["roads", T.tCases], ["fires", T.tCases]].forEach(function (pair) {
      var el = document.getElementById("tile-" + pair[0]);
      if (el && s[pair[0]] !== undefined) el.textContent = pair[1].replace("%(n)s", Number(s[pair[0]]).toLocaleString(document.documentElement.lang || "ja"));
    });
  }

  function poll() {
    clearTimeout(timer);
    fetch(feedUrl + "?channel=" + encodeURIComponent(currentAgency().channel), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.error) setStatus(data.error, true); else render(data);
      })
      .catch(function () { setStatus(T.tFailed, true); })
      .finally(function () { timer = setTimeout(poll, 2000); });
  }

  agencySelect.addEventListener("change", function () { lastKey = ""; fillMembers(); poll(); });
  document.getElementById("demo-compose").addEventListener("submit", function (e) {
    e.preventDefault();
    var value = text.value.trim();
    if (!value) return;
    text.value = "";
    send({ kind: "text", text: value });
  });
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      document.getElementById("demo-compose").requestSubmit();
    }
  });
  document.getElementById("demo-sample-photo").addEventListener("click", function () {
    send({ kind: "image" });
  });
  document.getElementById("demo-photo").addEventListener("change", function (e) {
    var file = e.target.files[0];
    if (!file) return;
    var reader = new FileReader();
    reader.onload = function () {
      var data = String(reader.result).split(",")[1] || "";
      send({ kind: "image", image: data, fileName: file.name, contentType: file.type });
    };
    reader.readAsDataURL(file);
    e.target.value = "";
  });
  document.getElementById("demo-location").addEventListener("click", function () {
    send({
      kind: "location",
      lat: document.getElementById("demo-lat").value,
      lng: document.getElementById("demo-lng").value,
      address: "岡山県倉敷市"
    });
  });

  fillMembers();
  poll();
})();
