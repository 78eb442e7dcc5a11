"use strict";
// The wallbox's web interface: one page whose views follow the URL's #fragment. It talks
// to the firmware's JSON API (docs/web.md). Labels and help texts live here, not in the
// firmware, where every string costs RAM.
(function () {
  var main = document.getElementById("main");
  var nav = document.getElementById("nav");
  var V = (document.currentScript.src.split("?v=")[1] || "0");
  var csrf = "";
  var timer = 0;
  var view = "";

  // ------------------------------------------------------------------ helpers
  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    var k;
    for (k in attrs || {}) {
      if (k === "text") el.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] === true) el.setAttribute(k, "");
      else if (attrs[k] !== false && attrs[k] != null) el.setAttribute(k, attrs[k]);
    }
    [].concat(kids || []).forEach(function (c) {
      if (c != null) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return el;
  }
  function page(title, kids) {
    clearTimeout(timer);
    main.textContent = "";
    main.appendChild(h("h1", {text: title}));
    [].concat(kids).forEach(function (k) { if (k) main.appendChild(k); });
  }
  function msg(el, text, bad) {
    el.textContent = text || "";
    el.className = "msg" + (bad ? " bad" : "");
    el.hidden = !text;
  }
  function api(method, path, body) {
    var o = {method: method, credentials: "same-origin", cache: "no-store",
             headers: {"X-CSRF-Token": csrf}};
    if (body !== undefined) {
      o.headers["Content-Type"] = "application/json";
      o.body = JSON.stringify(body);
    }
    return fetch("/api/" + path, o).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (d) {
        if (r.status === 401 && path !== "login" && path !== "recover") { login(); throw d; }
        if (r.status === 403 && d.must_change) { password(true); throw d; }
        d.code = r.status;  // the HTTP status (the charger's status is .status)
        return d;
      });
    }, function () { return {code: 0, error: "the wallbox does not answer"}; });
  }
  function num(x, unit) { return x == null ? "-" : (+x).toFixed(1).replace(/\.0$/, "") + " " + unit; }

  // ------------------------------------------------------------------ settings
  // key: [label, type, help, extra]; types: bool, int [min,max], text [max length],
  // secret (not shown; empty = unchanged), choice [values]
  var MODELS = ["sdm630", "sdm72", "sdm120", "sdm230", "b23", "b24", "em330", "em340", "custom"];
  var F = {
    "net.wifi": ["Wi-Fi connection", "bool", "Connects the wallbox to an existing Wi-Fi network."],
    "net.wifi_ssid": ["Wi-Fi SSID", "text", "The network to connect to (up to 32 characters).", 32],
    "net.wifi_password": ["Wi-Fi password", "secret", "8 to 63 characters; empty for an open network.", 63],
    "net.lan_dhcp": ["LAN DHCP server", "bool", "The wallbox hands out addresses on its Ethernet port."],
    "auth.enabled": ["Authorization", "bool", "Charging needs an RFID card from the list below (or the app). Off: anyone may charge."],
    "time.ntp": ["Network time", "bool", "Set the clock from a time server when online."],
    "time.ntp_server": ["Time server", "text", "Host name or IP address, optionally :port.", 64],
    "time.utc_offset_min": ["UTC offset (minutes)", "int", "For the times in the log, e.g. 60 for CET.", [-720, 840]],
    "net.hotspot": ["Enable hotspot", "bool", "The wallbox's own Wi-Fi network. It comes back by itself while no other connection works."],
    "net.hotspot_ssid": ["Hotspot SSID", "text", "Empty: the serial number.", 32],
    "net.hotspot_password": ["Hotspot password", "secret", "8 to 63 characters; empty keeps the one on the configuration label.", 63],
    "net.channel": ["Channel", "int", "1 to 13.", [1, 13]],
    "meter.enabled": ["Domestic connection monitoring", "bool", "Keeps the house within its main fuse using the grid meter."],
    "meter.transport": ["Meter connection", "choice", "RS485 wired to the wallbox, or Modbus TCP (meter or gateway).", ["rtu", "tcp"]],
    "meter.model": ["Manufacturer / model", "choice", "", MODELS],
    "meter.host": ["IP address", "text", "Of the TCP meter or gateway, e.g. 192.168.1.40.", 15],
    "meter.port": ["TCP port", "int", "Usually 502.", [1, 65535]],
    "meter.address": ["RS485 Modbus address", "int", "1 to 247; behind a gateway too.", [1, 247]],
    "meter.baud": ["RS485 baud rate", "choice", "", [2400, 4800, 9600, 19200, 38400]],
    "house.fuse_a": ["House fuse (A)", "int", "The main fuse per phase.", [6, 630]],
    "solar.enabled": ["Solar TCP meter", "bool", "Reads the solar production for surplus charging."],
    "solar.model": ["Manufacturer / model", "choice", "", MODELS],
    "solar.host": ["IP address", "text", "", 15],
    "solar.port": ["TCP port", "int", "", [1, 65535]],
    "solar.address": ["RS485 Modbus address", "int", "Behind a gateway.", [1, 247]],
    "charging.mode": ["Charging mode", "choice", "Immediate, solar surplus only, or minimum current plus surplus.", ["immediate", "solar", "min+solar"]],
    "charging.max_current_a": ["Installation maximum (A)", "int", "Per phase; at most what the DIP switches allow.", [6, 80]],
    "charging.cable_a": ["Charging cable rating (A)", "int", "", [6, 80]],
    "charging.phases": ["Phases", "choice", "", [1, 3]],
    "proxy.enabled": ["Proxy server", "bool", "For the backend connection through an HTTP proxy."],
    "proxy.host": ["Address", "text", "IP address, e.g. 192.168.123.23.", 15],
    "proxy.port": ["Port", "int", "", [1, 65535]],
    "proxy.user": ["User name", "text", "", 64],
    "proxy.password": ["Password", "secret", "", 64],
    "backend.enabled": ["Backend connection", "bool", "OCPP 1.6J to the charging backend (restart to apply)."],
    "backend.url": ["Backend URL", "text", "ws:// or wss:// address.", 200],
    "backend.charge_point_id": ["Charge point id", "text", "Empty: the serial number.", 48],
    "backend.key": ["Backend key", "secret", "The password the backend gave this charger.", 40],
    "mqtt.enabled": ["MQTT", "bool", "Publishes the state to the home automation's broker and takes start, stop, current and mode from it."],
    "mqtt.host": ["Broker", "text", "Host name or IP address.", 64],
    "mqtt.port": ["Port", "int", "Usually 1883, with TLS 8883.", [1, 65535]],
    "mqtt.tls": ["TLS", "bool", "Encrypted; the broker's certificate is not verified."],
    "mqtt.user": ["User name", "text", "", 64],
    "mqtt.password": ["Password", "secret", "", 64],
    "mqtt.base": ["Base topic", "text", "Empty: wallbox/<serial>.", 64],
    "mqtt.discovery": ["Discovery", "bool", "The charger appears by itself as a device in the home automation."],
    "mqtt.discovery_prefix": ["Discovery prefix", "text", "", 64],
    "mqtt.interval_s": ["Interval (s)", "int", "The state is also sent at once on each change.", [1, 3600]],
    "mqtt.card": ["Publish the card", "bool", "The UID of the card that authorized the session."],
    "device.showroom": ["Showroom mode", "bool", "Charging is disabled; everything else works."],
    "plan.mode": ["Mode at plug-in", "choice", "Intelligent: the wallbox plans the cheapest hours before the departure. The touch button switches during a session.", ["immediate", "intelligent"]],
    "plan.departure_min": ["Departure (minute of the day)", "int", "Local time, e.g. 420 for 07:00.", [0, 1439]],
    "plan.energy_kwh": ["Energy wanted (kWh)", "int", "By the departure.", [1, 200]],
    "plan.km": ["Range wanted (km)", "int", "0: use the energy above.", [0, 2000]],
    "plan.wh_per_km": ["Consumption (Wh/km)", "int", "", [50, 500]],
    "plan.tariff": ["Tariff table", "text", "e.g. * 22-06 0.18; mo-fr 06-22 0.30 (days, hours, price per kWh).", 240],
    "plan.windows": ["Allowed times", "text", "e.g. * 22-07; empty: always.", 240],
    "price.url": ["Price feed", "text", "http(s):// address of hourly or quarter-hourly prices (JSON).", 200],
    "session.max_kwh": ["Session energy limit (kWh)", "int", "0: none.", [0, 200]],
    "session.max_min": ["Session time limit (min)", "int", "0: none.", [0, 2880]],
    "capacity.enabled": ["Capacity tariff", "bool", "Keeps the grid import's 15-minute average under the limit (needs the meter)."],
    "capacity.limit_w": ["Capacity limit (W)", "int", "", [1000, 100000]]
  };
  var SECTIONS = {
    network: ["Network connection", ["net.wifi", "net.wifi_ssid", "net.wifi_password", "net.lan_dhcp"]],
    auth: ["Authorization & time", ["auth.enabled", "time.ntp", "time.ntp_server", "time.utc_offset_min"]],
    hotspot: ["Wi-Fi hotspot", ["net.hotspot", "net.hotspot_ssid", "net.hotspot_password", "net.channel"]],
    limits: ["Charging limits", ["charging.max_current_a", "charging.cable_a", "charging.phases", "house.fuse_a"]],
    meter: ["Domestic connection meter", ["meter.enabled", "meter.transport", "meter.model", "meter.host", "meter.port", "meter.address", "meter.baud"]],
    solar: ["Solar meter", ["solar.enabled", "solar.model", "solar.host", "solar.port", "solar.address", "charging.mode"]],
    proxy: ["Proxy", ["proxy.enabled", "proxy.host", "proxy.port", "proxy.user", "proxy.password"]],
    backend: ["Backend", ["backend.enabled", "backend.url", "backend.charge_point_id", "backend.key"]],
    mqtt: ["MQTT", ["mqtt.enabled", "mqtt.host", "mqtt.port", "mqtt.tls", "mqtt.user", "mqtt.password", "mqtt.base", "mqtt.discovery", "mqtt.discovery_prefix", "mqtt.interval_s", "mqtt.card"]],
    device: ["Showroom mode", ["device.showroom"]],
    planning: ["Intelligent charging", ["plan.mode", "plan.departure_min", "plan.energy_kwh", "plan.km", "plan.wh_per_km", "plan.tariff", "plan.windows", "price.url", "session.max_kwh", "session.max_min", "capacity.enabled", "capacity.limit_w"]]
  };

  function field(k, cfg) {
    var f = F[k], v = cfg.values[k], inp, id = "f-" + k.replace(/[._]/g, "-");
    var e = h("small", {"class": "err", "data-e": k});
    var hint = f[2] ? h("small", {"class": "hint", text: f[2]}) : null;
    if (f[1] === "bool") {
      inp = h("input", {type: "checkbox", id: id, "data-k": k, checked: !!v});
      return h("div", {}, [h("label", {"class": "chk"}, [inp, f[0]]), hint, e]);
    }
    if (f[1] === "choice") {
      inp = h("select", {id: id, "data-k": k}, f[3].map(function (o) {
        return h("option", {value: String(o), selected: String(o) === String(v), text: String(o)});
      }));
    } else if (f[1] === "int") {
      inp = h("input", {type: "number", id: id, "data-k": k, value: v, min: f[3][0], max: f[3][1], step: 1});
    } else {
      inp = h("input", {type: f[1] === "secret" ? "password" : "text", id: id, "data-k": k,
                        value: f[1] === "secret" ? "" : v, maxlength: f[3], autocomplete: "off",
                        placeholder: f[1] === "secret" && cfg.secrets_set.indexOf(k) >= 0 ? "(set: leave empty to keep)" : ""});
    }
    return h("div", {}, [h("label", {"for": id, text: f[0]}), inp, hint, e]);
  }
  function changes(box, cfg) {
    var out = {};
    box.querySelectorAll("[data-k]").forEach(function (el) {
      var k = el.getAttribute("data-k"), f = F[k], v;
      if (f[1] === "bool") v = el.checked;
      else if (f[1] === "int" || (f[1] === "choice" && typeof f[3][0] === "number")) v = /^-?\d+$/.test(el.value) ? +el.value : el.value;
      else v = el.value;
      if (f[1] === "secret" ? v !== "" : v !== cfg.values[k]) out[k] = v;
    });
    return out;
  }
  function showErrors(box, errors) {
    box.querySelectorAll("[data-e]").forEach(function (el) {
      el.textContent = (errors || {})[el.getAttribute("data-e")] || "";
    });
  }
  // A form for a section; onSaved(result) after a successful save
  function sectionForm(name, cfg, onSaved, button) {
    var s = SECTIONS[name], box = h("section", {id: "sec-" + name});
    var note = h("div", {"class": "msg", hidden: true});
    box.appendChild(h("h2", {text: s[0]}));
    s[1].forEach(function (k) { box.appendChild(field(k, cfg)); });
    if (name === "network") box.insertBefore(scanner(box), box.querySelector("[data-e='net.wifi_ssid']").parentNode.nextSibling);
    if (name === "auth") box.appendChild(timeSync());
    if (name === "limits") box.appendChild(h("p", {"class": "hint", text: "The DIP switches allow at most " + cfg.dip_a + " A."}));
    if (name === "meter" || name === "solar") box.appendChild(meterTest(name === "meter" ? "grid" : "solar"));
    if (name === "mqtt") box.appendChild(mqttTest());
    box.appendChild(note);
    box.appendChild(h("button", {type: "button", text: button || "Save", onclick: function () {
      var ch = changes(box, cfg);
      if (!Object.keys(ch).length) { msg(note, "Nothing changed."); if (onSaved) onSaved({}); return; }
      api("POST", "config", ch).then(function (r) {
        showErrors(box, r.errors);
        if (r.code !== 200) { msg(note, r.error || "Not saved.", true); return; }
        Object.keys(ch).forEach(function (k) { if (F[k][1] !== "secret") cfg.values[k] = ch[k]; });
        msg(note, "Saved." + (r.restart ? " Some changes apply after a restart." : ""));
        if (r.restart) note.appendChild(h("button", {type: "button", "class": "alt", text: "Restart now", onclick: restart}));
        if (onSaved) onSaved(r);
      });
    }}));
    return box;
  }
  function scanner(box) {
    var out = h("div");
    out.appendChild(h("button", {type: "button", "class": "alt", text: "Available networks", onclick: function (ev) {
      ev.target.disabled = true;
      api("GET", "wifi/scan").then(function (r) {
        ev.target.disabled = false;
        var sel = h("select", {"aria-label": "Available networks", onchange: function () {
          box.querySelector("[data-k='net.wifi_ssid']").value = sel.value;
        }}, [h("option", {text: r.networks ? r.networks.length + " networks found" : (r.error || "scan failed"), value: ""})].concat(
          (r.networks || []).map(function (n) { return h("option", {value: n.ssid, text: n.ssid + " (" + n.rssi + " dBm)"}); })));
        if (out.lastChild.tagName === "SELECT") out.removeChild(out.lastChild);
        out.appendChild(sel);
      });
    }}));
    return out;
  }
  function timeSync() {
    var note = h("span", {"class": "hint"});
    return h("div", {}, [h("button", {type: "button", "class": "alt", text: "Get browser time", onclick: function () {
      api("POST", "time", {epoch_s: Math.floor(Date.now() / 1000)}).then(function (r) {
        note.textContent = r.code === 200 ? " Clock set: " + r.time : " " + r.error;
      });
    }}), note]);
  }
  function meterTest(which) {
    var note = h("pre", {hidden: true});
    return h("div", {}, [h("button", {type: "button", "class": "alt", text: "Test connection", onclick: function () {
      note.hidden = false;
      note.textContent = "Testing the saved settings...";
      api("POST", "meter/test", {which: which}).then(function (r) {
        note.textContent = r.ok ? "Connected: " + JSON.stringify(r.values) : "No reading: " + (r.error || "?");
      });
    }}), note]);
  }

  function mqttTest() {
    var note = h("span", {"class": "hint"});
    return h("div", {}, [h("button", {type: "button", "class": "alt", text: "Test connection", onclick: function () {
      note.textContent = " Testing the saved settings...";
      api("POST", "mqtt/test").then(function (r) { note.textContent = r.ok ? " Connected." : " Failed: " + (r.error || "?"); });
    }}), note]);
  }

  // ------------------------------------------------------------------ views
  function login() {
    nav.hidden = true;
    document.getElementById("menu").hidden = true;
    var note = h("div", {"class": "msg", hidden: true});
    var u = h("input", {type: "text", id: "user", value: "admin", autocomplete: "username"});
    var p = h("input", {type: "password", id: "password", autocomplete: "current-password"});
    var f = h("form", {onsubmit: function (ev) {
      ev.preventDefault();
      api("POST", "login", {user: u.value, password: p.value}).then(function (r) {
        if (r.code !== 200) { msg(note, r.error || "Login failed", true); return; }
        loggedIn(r);
      });
    }}, [h("label", {"for": "user", text: "User name"}), u, h("label", {"for": "password", text: "Password"}), p,
         h("p", {"class": "hint", text: "First login: user admin, the serial number as password."}),
         h("button", {type: "submit", id: "login", text: "Log in"}), note,
         h("p", {}, [h("a", {href: "#recover", id: "forgot", text: "Forgot your password?"})])]);
    page("Log in", h("section", {}, f));
    view = "login";
  }
  function recover() {
    var note = h("div", {"class": "msg", hidden: true});
    var c = h("input", {type: "password", id: "recovery", autocomplete: "off"});
    page("Forgot your password?", h("section", {}, h("form", {onsubmit: function (ev) {
      ev.preventDefault();
      api("POST", "recover", {recovery: c.value}).then(function (r) {
        if (r.code !== 200) { msg(note, r.error, true); return; }
        loggedIn(r);
      });
    }}, [h("p", {text: "Enter the recovery password from the configuration label. Then set a new password."}),
         h("label", {"for": "recovery", text: "Recovery password"}), c,
         h("button", {type: "submit", text: "Continue"}), note,
         h("p", {}, h("a", {href: "#status", text: "Back to the login"}))])));
  }
  function loggedIn(r) {
    csrf = r.csrf;
    nav.hidden = false;
    document.getElementById("menu").hidden = false;
    if (r.must_change) password(true);
    else if (!r.wizard) location.hash === "#wizard" ? route() : (location.hash = "#wizard");
    else route();
  }
  function password(forced) {
    nav.hidden = !!forced;
    var note = h("div", {"class": "msg", hidden: true});
    var old = forced ? null : h("input", {type: "password", id: "old", autocomplete: "current-password"});
    var n1 = h("input", {type: "password", id: "new", autocomplete: "new-password"});
    var n2 = h("input", {type: "password", id: "new2", autocomplete: "new-password"});
    var e = {old: h("small", {"class": "err"}), "new": h("small", {"class": "err"})};
    var f = h("form", {onsubmit: function (ev) {
      ev.preventDefault();
      e["new"].textContent = e.old.textContent = "";
      if (n1.value !== n2.value) { e["new"].textContent = "the two entries differ"; return; }
      api("POST", "password", {old: old ? old.value : undefined, "new": n1.value}).then(function (r) {
        if (r.code !== 200) {
          Object.keys(r.errors || {}).forEach(function (k) { if (e[k]) e[k].textContent = r.errors[k]; });
          msg(note, r.error, true);
          return;
        }
        msg(note, "Password changed.");
        nav.hidden = false;
        if (forced) { if (r.wizard) { location.hash = "#status"; route(); } else location.hash = "#wizard"; }
      });
    }}, [forced ? h("p", {text: "Choose a new password before anything else (8 to 64 characters)."}) : null,
         old ? h("label", {"for": "old", text: "Current password"}) : null, old, old ? e.old : null,
         h("label", {"for": "new", text: "New password"}), n1, e["new"],
         h("label", {"for": "new2", text: "Repeat the new password"}), n2,
         h("button", {type: "submit", id: "setpw", text: "Save password"}), note]);
    if (forced) page("Set a new password", h("section", {}, f));
    return f;
  }

  function chart(c) {
    var W = 300, H = 110, n = c.a.length, i, a = [], p = [];
    var top = Math.max(6, Math.max.apply(null, c.a.concat([0])) / 2);
    var ktop = Math.max(1, Math.max.apply(null, c.kw.concat([0])) / 10);
    for (i = 0; i < n; i++) {
      var x = n > 1 ? (i / (n - 1)) * W : 0;
      a.push(x.toFixed(1) + "," + (H - (c.a[i] / 2) / top * (H - 10)).toFixed(1));
      p.push(x.toFixed(1) + "," + (H - (c.kw[i] / 10) / ktop * (H - 10)).toFixed(1));
    }
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "current and power of this session");
    function el(tag, at, text) {
      var e = document.createElementNS(ns, tag);
      for (var k in at) e.setAttribute(k, at[k]);
      if (text) e.textContent = text;
      svg.appendChild(e);
    }
    if (n > 1) {
      el("polyline", {"class": "a", points: a.join(" ")});
      el("polyline", {"class": "p", points: p.join(" ")});
    }
    el("text", {x: 4, y: 11}, "current (blue) up to " + top + " A, power (orange) up to " + ktop.toFixed(1) + " kW");
    el("text", {x: 4, y: H - 3}, n ? (n * c.every_s / 60).toFixed(0) + " min" : "no data yet");
    return svg;
  }
  function status() {
    var box = h("section", {id: "live"}), ctl = h("section"), note = h("div", {"class": "msg", hidden: true});
    var cur = h("input", {type: "number", id: "app-current", min: 6, step: 1, value: 16});
    var edited = false;  // until the user types, the field follows the session
    cur.oninput = function () { edited = true; };
    ctl.appendChild(h("h2", {text: "Charging control"}));
    ctl.appendChild(h("button", {type: "button", id: "start", text: "Start", onclick: function () { act("v1/start"); }}));
    ctl.appendChild(h("button", {type: "button", id: "stop", "class": "alt", text: "Stop", onclick: function () { act("v1/stop"); }}));
    ctl.appendChild(h("label", {"for": "app-current", text: "Current for this session (A)"}));
    ctl.appendChild(cur);
    ctl.appendChild(h("button", {type: "button", id: "set-current", text: "Set current", onclick: function () { act("v1/current", {current_a: +cur.value}); }}));
    ctl.appendChild(note);
    function act(p, b) {
      api("POST", p, b || {}).then(function (r) { msg(note, r.code === 200 ? "Done." : r.error, r.code !== 200); poll(); });
    }
    page("Status", [box, ctl]);
    function row(t, v, id) { return h("tr", {}, [h("th", {text: t}), h("td", {id: id, text: v == null ? "-" : String(v)})]); }
    function poll() {
      clearTimeout(timer);
      api("GET", "v1/status").then(function (s) {
        if (view !== "status") return;
        timer = setTimeout(poll, 2000);
        if (s.code === 0) { box.textContent = s.error; return; }
        var here = location.hostname, ips = (s.net || []).map(function (n) { return n.ip; });
        var me = (s.net || []).filter(function (n) { return n.ip === here; })[0] || (s.net || [])[0] || {};
        var others = ips.filter(function (ip) { return ip !== me.ip; });
        var b = s.backend;
        cur.max = s.max_a;
        if (!edited && document.activeElement !== cur)
          cur.value = Math.max(6, Math.floor(Math.min(s.max_a, s.app_a != null ? s.app_a : (s.offered_a || s.max_a))));
        box.textContent = "";
        box.appendChild(h("p", {}, [h("span", {"class": "status st-" + s.status, id: "st", text: s.status}), " ",
                                     h("span", {"class": "hint", text: DESCR[s.status] || ""})]));
        box.appendChild(h("table", {}, [
          row("Device type", s.type), row("Serial number", s.serial), row("Software version", s.version),
          row("IP address", (me.ip || here) + (others.length ? " (" + others.join(", ") + ")" : "")),
          row("MAC address", me.mac || "-"),
          row("Backend connection", b ? b.state + (b.error ? " (" + b.error + ")" : "") : "off"),
          row("MQTT", s.mqtt || "off"),
          row("Synchronisation", b ? (b.synced ? "synchronised" : "not synchronised") : "-"),
          row("Vehicle", s.vehicle ? "connected" : "not connected"),
          row("Offered current", num(s.offered_a, "A"), "offered"),
          row("Current limit", num(s.limit_a, "A") + " (" + s.limit_by + ")", "limit"),
          row("Actual current", s.current_a.map(function (x) { return num(x, "A"); }).join(" / ")),
          row("Power", num(s.power_w / 1000, "kW")), row("Session energy", num(s.energy_wh / 1000, "kWh")),
          row("App current", s.app_a == null ? "-" : num(s.app_a, "A"), "app"),
          row("Fault", s.fault ? s.fault + ": " + s.fault_text : (s.last_fault ? "none (last: " + s.last_fault + ")" : "none"), "fault"),
          row("Temperature", num(s.temp_c, "\u00b0C")), row("Mains voltage", num(s.mains_v, "V")),
          row("Clock", s.time)
        ]));
        box.appendChild(chart(s.chart));
        if (s.plan) box.appendChild(planBlock(s.plan));
        if (s.safe_mode) box.appendChild(h("p", {"class": "msg bad", text: "Safe mode: charging stopped until a restart (see the data log)."}));
        if (s.not_started && s.not_started.length) box.appendChild(h("p", {"class": "msg bad", text: "Not started for want of memory: " + s.not_started.join(", ") + ". The charger tries again by itself; a board with more RAM, or fewer features switched on, cures it (see the manual: RAM)."}));
      });
    }
    poll();
  }
  // The departure plan (docs/planning.md): mode, completion, cost and the timeline.
  function planBlock(p) {
    function hm(t) { var d = new Date(t * 1000); return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); }
    var out = h("div", {id: "plan"}, [h("h3", {text: "Charging plan"}),
      h("p", {text: p.mode + " charging, " + p.state + (p.departure ? ", departure " + hm(p.departure) : "") +
        (p.complete_at ? ", complete by " + hm(p.complete_at) : "") + (p.missing_wh ? ", " + (p.missing_wh / 1000).toFixed(1) + " kWh missing" : "") +
        (p.cost != null ? ", expected cost " + p.cost.toFixed(2) : "")})]);
    if (p.timeline) out.appendChild(h("table", {}, p.timeline.filter(function (r) { return r[2] > 0; }).map(function (r) {
      return h("tr", {}, [h("th", {text: hm(r[0]) + "–" + hm(r[1])}), h("td", {text: r[2] + " A at " + r[3]})]); })));
    return out;
  }
  var DESCR = {Idle: "ready, no vehicle plugged in", Charging: "power is being transferred",
    ReadyForCharging: "vehicle plugged in, not charging", Suspended: "paused by a limit, the app or the backend",
    RecoverFromError: "recovering after a fault", UnrecoverableError: "fault: restart from the mains",
    ServiceMode: "commissioning mode", Degraded: "safety-related power reduction",
    TokenProgrammingMode: "programming RFID cards"};

  function restart() {
    if (!confirm("Restart the wallbox now? A running charging session ends.")) return;
    api("POST", "restart", {}).then(function () { waitBack("Restarting..."); });
  }
  function waitBack(text) {
    page(text, h("p", {"class": "hint", text: "The page reloads when the wallbox is back."}));
    setTimeout(function again() {
      fetch("/", {cache: "no-store"}).then(function () { location.reload(); }, function () { setTimeout(again, 2000); });
    }, 4000);
  }
  function system() {
    var file = h("input", {type: "file", id: "bundle", accept: ".wbx"});
    var bar = h("progress", {max: 100, value: 0, hidden: true}), note = h("div", {"class": "msg", hidden: true});
    var logbox = h("pre", {id: "log", text: "loading..."});
    var resetPw = h("input", {type: "password", id: "reset-password", autocomplete: "current-password"});
    var resetNote = h("div", {"class": "msg", hidden: true});
    function loadLog() {
      api("GET", "log?n=200").then(function (r) { logbox.textContent = (r.lines || [r.error]).join("\n"); });
    }
    page("System", [
      h("section", {}, [h("h2", {text: "Software update"}),
        h("p", {"class": "hint", text: "Choose an update bundle (.wbx) and press Upload & Install. Charging stops during the update; the wallbox restarts with the new version and goes back to the old one if it does not run."}),
        file, h("br"), h("button", {type: "button", id: "upload", text: "Upload & Install", onclick: function () {
          var f = file.files[0];
          if (!f) { msg(note, "Choose a file first.", true); return; }
          var x = new XMLHttpRequest();
          x.open("POST", "/api/update");
          x.setRequestHeader("X-CSRF-Token", csrf);
          x.setRequestHeader("Content-Type", "application/octet-stream");
          bar.hidden = false;
          x.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = 100 * e.loaded / e.total; };
          x.onload = function () {
            var r = {};
            try { r = JSON.parse(x.responseText); } catch (e) { r.error = "HTTP " + x.status; }
            if (x.status === 200) { msg(note, "Version " + r.version + " verified and installed."); waitBack("Restarting into " + r.version + "..."); }
            else msg(note, "Refused: " + r.error, true);
          };
          x.onerror = function () { msg(note, "Upload interrupted.", true); };
          msg(note, "Uploading...");
          x.send(f);
        }}), bar, note]),
      h("section", {}, [h("h2", {text: "Data logging"}), logbox,
        h("button", {type: "button", "class": "alt", text: "Refresh", onclick: loadLog}),
        h("a", {"class": "btn", href: "/api/log/all", download: "", id: "download", text: "Download All"})]),
      h("section", {}, [h("h2", {text: "Restart"}), h("button", {type: "button", "class": "warn", id: "restart", text: "Restart System", onclick: restart})]),
      h("section", {}, [h("h2", {text: "Factory reset"}),
        h("p", {"class": "hint", text: "Deletes every setting, the password (back to the serial number), the API tokens, the RFID card list and the backend's records, then restarts. Kept: the configuration label's passwords, the software version and the data log."}),
        h("label", {}, ["Password ", resetPw]),
        h("button", {type: "button", "class": "warn", id: "factory-reset", text: "Factory Reset", onclick: function () {
          if (!resetPw.value) { msg(resetNote, "Enter your password first.", true); return; }
          if (!confirm("Reset the wallbox to the state as delivered? All settings, the card list and the password are deleted; a running charging session ends.")) return;
          api("POST", "factory-reset", {password: resetPw.value, confirm: true}).then(function (r) {
            if (r.code === 200) waitBack("Factory reset: restarting...");
            else msg(resetNote, r.error, true);
          });
        }}), resetNote])
    ]);
    loadLog();
  }
  function config() {
    api("GET", "config").then(function (cfg) {
      if (cfg.code !== 200) return;
      page("Configuration", ["network", "auth"].map(function (n) { return sectionForm(n, cfg); }));
      main.appendChild(cards());
      ["hotspot", "limits", "meter", "solar", "proxy", "backend", "mqtt", "device"].forEach(function (n) { main.appendChild(sectionForm(n, cfg)); });
      main.appendChild(transfer());
    });
  }
  function cards() {
    var box = h("section", {id: "cards"}, h("h2", {text: "RFID cards"})), list = h("div"), note = h("div", {"class": "msg", hidden: true});
    var uid = h("input", {type: "text", id: "new-uid", placeholder: "UID in hex, e.g. 04A1B2C3D4E5F6", maxlength: 20});
    var lab = h("input", {type: "text", id: "new-label", placeholder: "label", maxlength: 32});
    function done(r) { msg(note, r.code === 200 ? "Saved." : r.error, r.code !== 200); load(); }
    function load() {
      api("GET", "cards").then(function (r) {
        list.textContent = "";
        if (!r.cards || !r.cards.length) list.appendChild(h("p", {"class": "hint", text: "No cards. Program them with the master card, or add a UID here."}));
        (r.cards || []).forEach(function (c) {
          var l = h("input", {type: "text", value: c.label, maxlength: 32, "aria-label": "label of " + c.uid});
          list.appendChild(h("div", {"class": "row"}, [h("code", {text: c.uid + (c.uid === r.master ? " (master)" : "")}), l,
            h("span", {}, [h("button", {type: "button", "class": "alt", text: "Save label", onclick: function () {
              api("PUT", "cards/" + c.uid, {label: l.value}).then(done);
            }}), h("button", {type: "button", "class": "warn", text: "Remove", onclick: function () {
              if (confirm("Remove card " + c.uid + "?")) api("DELETE", "cards/" + c.uid).then(done);
            }})])]));
        });
      });
    }
    box.appendChild(list);
    box.appendChild(h("div", {"class": "row"}, [uid, lab, h("span", {}, h("button", {type: "button", text: "Add card", onclick: function () {
      api("POST", "cards", {uid: uid.value.trim(), label: lab.value}).then(done);
    }}))]));
    box.appendChild(note);
    load();
    return box;
  }
  function transfer() {
    var sec = h("input", {type: "checkbox", id: "with-secrets"});
    var link = h("a", {"class": "btn", href: "/api/config/export", download: "", id: "export", text: "Export configuration"});
    var file = h("input", {type: "file", id: "import-file", accept: ".json,application/json"});
    var note = h("div", {"class": "msg", hidden: true});
    sec.addEventListener("change", function () { link.href = "/api/config/export" + (sec.checked ? "?secrets=1" : ""); });
    return h("section", {}, [h("h2", {text: "Configuration file"}),
      h("p", {"class": "hint", text: "Export the settings and the card list as a JSON file; import one to restore it (on this or another wallbox)."}),
      h("label", {"class": "chk"}, [sec, "Include passwords"]), link,
      h("label", {"for": "import-file", text: "Import a configuration file"}), file,
      h("button", {type: "button", text: "Import", onclick: function () {
        if (!file.files[0]) return;
        file.files[0].text().then(function (t) {
          var doc;
          try { doc = JSON.parse(t); } catch (e) { msg(note, "Not a JSON file.", true); return; }
          api("POST", "config/import", doc).then(function (r) {
            if (r.code !== 200) {
              msg(note, r.error + (r.errors ? ": " + Object.keys(r.errors).map(function (k) { return k + " " + r.errors[k]; }).join("; ") : ""), true);
              return;
            }
            msg(note, "Imported." + (r.ignored.length ? " Ignored: " + r.ignored.join(", ") : "") + (r.restart ? " Some changes apply after a restart." : ""));
          });
        });
      }}), note]);
  }
  function wizard() {
    var steps = ["network", "auth", "limits", "meter"], i = 0;
    api("GET", "config").then(function (cfg) {
      if (cfg.code !== 200) return;
      function show() {
        page("Configuration Wizard", [h("p", {"class": "steps"}, steps.map(function (s, j) {
          return j === i ? h("b", {text: (j + 1) + ". " + SECTIONS[s][0] + "  "}) : (j + 1) + ". " + SECTIONS[s][0] + "  ";
        })), sectionForm(steps[i], cfg, function () {
          if (++i < steps.length) show();
          else api("POST", "wizard", {done: true}).then(function () {
            page("Configuration Wizard", [h("p", {text: "Done. Advanced settings are under Configuration."}),
              h("a", {"class": "btn", href: "#status", text: "Go to the status"})]);
          });
        }, i < steps.length - 1 ? "Save and continue" : "Save and finish"),
        i ? h("button", {type: "button", "class": "alt", text: "Back", onclick: function () { i--; show(); }}) : null,
        h("button", {type: "button", "class": "alt", text: "Skip the wizard", onclick: function () {
          api("POST", "wizard", {done: true}).then(function () { location.hash = "#status"; });
        }})]);
      }
      show();
    });
  }
  function user() {
    var list = h("div"), note = h("div", {"class": "msg", hidden: true}), label = h("input", {type: "text", id: "token-label", maxlength: 32, placeholder: "e.g. home automation"});
    function load() {
      api("GET", "user").then(function (u) {
        rec.textContent = u.recovery || "(not provisioned)";
        list.textContent = "";
        (u.tokens || []).forEach(function (t) {
          list.appendChild(h("div", {"class": "row"}, [h("span", {text: t.label + " (" + t.id + ")"}),
            h("span", {}, h("button", {type: "button", "class": "warn", text: "Revoke", onclick: function () {
              api("DELETE", "tokens/" + t.id).then(load);
            }}))]));
        });
      });
    }
    var rec = h("code", {id: "recovery-shown"});
    page("User", [h("section", {}, [h("h2", {text: "Change password"}), password(false)]),
      h("section", {}, [h("h2", {text: "Recovery password"}), h("p", {}, ["Recovery password (also on the configuration label): ", rec])]),
      h("section", {}, [h("h2", {text: "API tokens"}),
        h("p", {"class": "hint", text: "For apps and home automation on the local network: send it as 'Authorization: Bearer <token>' (see the API description in the documentation)."}),
        list, label, h("button", {type: "button", id: "token-create", text: "Create token", onclick: function () {
          api("POST", "tokens", {label: label.value}).then(function (r) {
            if (r.code !== 200) { msg(note, r.error, true); return; }
            msg(note, "New token (shown only now): " + r.token);
            load();
          });
        }}), note])]);
    load();
  }
  function staticPage(title, file, pre) {
    fetch(file + "?v=" + V).then(function (r) { return r.text(); }).then(function (t) {
      var box = h(pre ? "pre" : "section", {"class": pre ? "" : "help"});
      if (pre) box.textContent = t; else box.innerHTML = t;  // our own static file
      page(title, box);
    });
  }

  // ------------------------------------------------------------------ routing
  var VIEWS = {status: status, system: system, config: config, wizard: wizard, user: user,
    help: function () { staticPage("Help", "help.html"); },
    licence: function () { staticPage("Licence information", "licence.txt", true); },
    recover: recover,
    logout: function () { api("POST", "logout", {}).then(function () { csrf = ""; location.hash = ""; login(); }); }};
  function route() {
    view = (location.hash || "#status").slice(1);
    if (!VIEWS[view]) view = "status";
    nav.querySelectorAll("a").forEach(function (a) { a.className = a.getAttribute("href") === "#" + view ? "on" : ""; });
    nav.classList.remove("open");
    if (!csrf && view !== "recover") { login(); return; }
    VIEWS[view]();
  }
  window.addEventListener("hashchange", route);
  document.getElementById("menu").addEventListener("click", function () { nav.classList.toggle("open"); });
  api("GET", "session").then(function (s) {
    if (s.code !== 200) return;
    csrf = s.csrf;
    nav.hidden = false;
    document.getElementById("menu").hidden = false;
    if (s.must_change) password(true); else route();
  }, function () { if (location.hash === "#recover") recover(); });
})();
