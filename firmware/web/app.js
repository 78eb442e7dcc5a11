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
  var sub = "";  // the part of a view, e.g. #config/solar

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
  // what a choice's values are called on the page
  var NAMES = {
    model: {sdm630: "SDM630 (3 phases)", sdm72: "SDM72 (3 phases)", sdm120: "SDM120 (1 phase)", sdm230: "SDM230 (1 phase)",
      b23: "B23 (3 phases)", b24: "B24 (3 phases)", em330: "EM330 (3 phases)", em340: "EM340 (3 phases)", custom: "Other (register map under Advanced)"},
    "meter.transport": {rtu: "RS485, wired to the wallbox", tcp: "Modbus TCP (meter or gateway on the network)"},
    "charging.mode": {immediate: "Immediate", solar: "Solar surplus only", "min+solar": "Minimum current plus solar surplus"},
    "charging.phases": {1: "1 phase", 3: "3 phases"}
  };
  function choiceName(k, v) {
    var n = NAMES[/\.model$/.test(k) ? "model" : k];
    return n && n[v] != null ? n[v] : k === "meter.baud" ? v + " baud" : String(v);
  }
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
    // expert settings: under Advanced
    "net.hostname": ["Host name", "text", "Empty: wallbox-<serial>. Also reachable as <name>.local.", 32],
    "web.port": ["Web interface port", "int", "Usually 80 (restart to apply).", [1, 65535]],
    "web.session_min": ["Log off after (minutes unused)", "int", "", [5, 1440]],
    "meter.lost_s": ["Meter lost after (s)", "int", "Without a valid reading this long the wallbox charges at 10 A at most.", [2, 300]],
    "house.resume_s": ["Resume after a pause (s)", "int", "After a pause for the house fuse, 7 A of headroom must last this long.", [1, 600]],
    "meter.poll_ms": ["Reading interval (ms)", "int", "One complete reading of every meter this often.", [200, 10000]],
    "meter.timeout_ms": ["Answer timeout (ms)", "int", "For each request to a meter.", [100, 5000]],
    "meter.custom": ["Register map (model Other)", "text", "In the installation manual's notation, e.g. fc4 v=0,2,4:f32:0 i=6,8,10:f32:0 ...", 240],
    "solar.start_s": ["Start delay (s)", "int", "A surplus of 6 A or more this long starts charging.", [0, 3600]],
    "solar.stop_s": ["Stop delay (s)", "int", "A surplus below 6 A this long stops charging.", [0, 3600]],
    "charging.retry_delay_s": ["Pause before a retry (s)", "int", "After a fault, before the next of at most 5 tries.", [1, 600]],
    "charging.wake_after_s": ["Wake the vehicle after (s)", "int", "Plugged in and released, but no charge request: a wake-up pulse.", [5, 600]],
    "charging.ventilation": ["Vehicles that need ventilation", "bool", "Allow charging in pilot state D (indoor ventilation present)."],
    "backend.schedule_wait_s": ["Wait for a schedule (s)", "int", "Then charge immediately.", [0, 3600]],
    "backend.timeout_s": ["Answer timeout (s)", "int", "", [5, 300]],
    "backend.retry_max_s": ["Longest pause between connection tries (s)", "int", "", [2, 3600]],
    "backend.id_tag": ["Id tag without a card", "text", "Sent for sessions that no card authorized.", 20],
    "device.led_brightness": ["LED brightness", "int", "4 to 255.", [4, 255]],
    "device.commissioning": ["Commissioning mode", "bool", "For the installer: charging is disabled while it is on."],
    "update.url": ["Update address", "text", "http:// or https:// address of the release record (latest.wbr) that Check for Update reads.", 200],
    "sd.allow_init": ["Allow USB init", "bool", "An empty SD card inserted gets the configuration (without passwords) and the data log."],
    "sd.allow_config": ["Allow USB config", "bool", "An SD card with CFG/config.json gets it applied, checked like an import (restart to switch the slot on or off)."]
  };
  // [title, fields, advanced fields]
  var SECTIONS = {
    network: ["Network connection", ["net.wifi", "net.wifi_ssid", "net.wifi_password", "net.lan_dhcp"], ["net.hostname", "web.port"]],
    auth: ["Authorization & time", ["auth.enabled", "time.ntp", "time.ntp_server", "time.utc_offset_min"]],
    hotspot: ["Wi-Fi hotspot", ["net.hotspot", "net.hotspot_ssid", "net.hotspot_password", "net.channel"]],
    limits: ["Charging limits", ["charging.max_current_a", "charging.cable_a", "charging.phases", "house.fuse_a"],
      ["charging.retry_delay_s", "charging.wake_after_s", "charging.ventilation"]],
    meter: ["Domestic connection meter", ["meter.enabled", "meter.transport", "meter.model", "meter.host", "meter.port", "meter.address", "meter.baud"],
      ["meter.lost_s", "house.resume_s", "meter.poll_ms", "meter.timeout_ms", "meter.custom"]],
    solar: ["Solar meter", ["solar.enabled", "solar.model", "solar.host", "solar.port", "solar.address", "charging.mode"], ["solar.start_s", "solar.stop_s"]],
    proxy: ["Proxy", ["proxy.enabled", "proxy.host", "proxy.port", "proxy.user", "proxy.password"]],
    backend: ["Backend", ["backend.enabled", "backend.url", "backend.charge_point_id", "backend.key"],
      ["backend.schedule_wait_s", "backend.timeout_s", "backend.retry_max_s", "backend.id_tag"]],
    mqtt: ["MQTT", ["mqtt.enabled", "mqtt.host", "mqtt.port", "mqtt.tls", "mqtt.user", "mqtt.password", "mqtt.base", "mqtt.discovery", "mqtt.discovery_prefix", "mqtt.interval_s", "mqtt.card"]],
    device: ["Device", ["device.showroom"], ["device.led_brightness", "device.commissioning", "web.session_min"]],
    system: ["Updates & SD card", ["update.url", "sd.allow_init", "sd.allow_config"]]
  };
  // The Configuration page's parts, each one form with one Save: [title, sections]
  var GROUPS = {
    network: ["Network", ["network", "hotspot"]],
    auth: ["Authorization & cards", ["auth"]],
    meters: ["Meters & load management", ["limits", "meter"]],
    solar: ["Solar", ["solar"]],
    backend: ["Backend", ["backend", "proxy", "mqtt"]],
    system: ["System", ["device", "system"]]  // "system": the update address, the SD card slot
  };
  function label(k) { return F[k] ? F[k][0] : k; }

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
        return h("option", {value: String(o), selected: String(o) === String(v), text: choiceName(k, o)});
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
      var why = (errors || {})[el.getAttribute("data-e")] || "";
      el.textContent = why;
      var d = el.closest("details");
      if (why && d) d.open = true;  // an expert field's error must be seen
    });
  }
  // One part of a form: a section's fields, its expert fields under Advanced
  function sectionBox(name, cfg) {
    var s = SECTIONS[name], box = h("section", {id: "sec-" + name});
    box.appendChild(h("h2", {text: s[0]}));
    s[1].forEach(function (k) { box.appendChild(field(k, cfg)); });
    if (name === "network") box.insertBefore(scanner(box), box.querySelector("[data-e='net.wifi_ssid']").parentNode.nextSibling);
    if (name === "auth") box.appendChild(timeSync());
    if (name === "limits") box.appendChild(h("p", {"class": "hint", text: "The DIP switches allow at most " + cfg.dip_a + " A."}));
    if (name === "meter" || name === "solar") box.appendChild(meterTest(name === "meter" ? "grid" : "solar"));
    if (name === "mqtt") box.appendChild(mqttTest());
    if (name === "meter") {  // show what the chosen connection needs
      var tr = box.querySelector("[data-k='meter.transport']"), only = {"meter.host": "tcp", "meter.port": "tcp", "meter.baud": "rtu"};
      var fit = function () {
        Object.keys(only).forEach(function (k) { box.querySelector("[data-k='" + k + "']").parentNode.hidden = tr.value !== only[k]; });
      };
      tr.addEventListener("change", fit);
      fit();
    }
    if (s[2]) box.appendChild(h("details", {"class": "adv"}, [h("summary", {text: "Advanced"})].concat(s[2].map(function (k) { return field(k, cfg); }))));
    return box;
  }
  var dirty = null;  // the form with unsaved changes, if any
  // A form of one or more sections with one Save; onSaved(result) after a successful save
  function sectionForm(names, cfg, onSaved, button) {
    var form = h("form", {"class": "cfg", novalidate: true}), note = h("div", {"class": "msg", role: "status", hidden: true});
    var state = h("p", {"class": "unsaved", hidden: true, text: "Unsaved changes"});
    [].concat(names).forEach(function (n) { form.appendChild(sectionBox(n, cfg)); });
    var save = h("button", {type: "submit", text: button || "Save"});
    form.appendChild(h("div", {"class": "bar"}, [save, state, note]));
    function mark() {
      var n = Object.keys(changes(form, cfg)).length;
      state.hidden = !n;
      dirty = n ? form : (dirty === form ? null : dirty);
    }
    form.addEventListener("input", mark);
    form.addEventListener("change", mark);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var ch = changes(form, cfg);
      if (!Object.keys(ch).length) { msg(note, "Nothing changed."); if (onSaved) onSaved({}); return; }
      save.disabled = true;
      api("POST", "config", ch).then(function (r) {
        save.disabled = false;
        showErrors(form, r.errors);
        if (r.code !== 200) { msg(note, r.errors ? "Not saved: see the fields marked." : r.error || "Not saved.", true); return; }
        Object.keys(ch).forEach(function (k) { if (F[k][1] !== "secret") cfg.values[k] = ch[k]; });
        form.querySelectorAll("input[type=password]").forEach(function (el) { el.value = ""; });
        mark();
        msg(note, "Saved." + (r.restart ? " Some changes apply after a restart." : ""));
        if (r.restart) note.appendChild(h("button", {type: "button", "class": "alt", text: "Restart now", onclick: restart}));
        if (onSaved) onSaved(r);
      });
    });
    return form;
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
  // A meter's reading in words (firmware units: 0.1 V, 0.1 A, W, Wh; null = not read)
  function reading(v) {
    function three(keys, div, unit) {
      var xs = keys.map(function (k) { return v[k]; }).filter(function (x) { return x != null; });
      return xs.length ? xs.map(function (x) { return num(x / div, unit); }).join(" / ") : null;
    }
    return [["Voltage", three(["v1", "v2", "v3"], 10, "V")], ["Current", three(["i1", "i2", "i3"], 10, "A")],
      ["Power", v.pt == null ? null : num(v.pt / 1000, "kW")], ["Energy imported", v.ei == null ? null : num(v.ei / 1000, "kWh")],
      ["Energy exported", v.ee == null ? null : num(v.ee / 1000, "kWh")]].filter(function (r) { return r[1]; })
      .map(function (r) { return r[0] + ": " + r[1]; }).join("; ");
  }
  function meterWhy(e) {
    e = e || "";
    if (/^wrong model/.test(e)) return "The meter answered, but its values do not fit the chosen model: check Manufacturer / model.";
    if (/timeout|short|no answer/.test(e)) return "No answer: check the address, the port or wiring, and the Modbus address.";
    if (/refused|closed|net /.test(e)) return "No connection to that IP address and port: check them and that the meter or gateway is on the same network.";
    if (/^exception/.test(e)) return "The meter refused the request (Modbus " + e + "): check the model and the Modbus address.";
    if (/crc|frame|length|address|tid/.test(e)) return "Garbled answers: check the wiring, the baud rate and that no other device uses the Modbus address.";
    return "No reading" + (e ? " (" + e + ")" : "") + ": check the settings above.";
  }
  function meterTest(which) {
    var note = h("p", {"class": "msg", role: "status", hidden: true});
    return h("div", {}, [h("button", {type: "button", "class": "alt", text: "Test connection", onclick: function () {
      msg(note, "Testing the saved settings...");
      api("POST", "meter/test", {which: which}).then(function (r) {
        msg(note, r.ok ? "Connected. " + reading(r.values || {}) : meterWhy(r.error), !r.ok);
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

  // The session chart: time and value axes with units, a legend beside it; drawn at the
  // size it is shown, so its text stays small on a wide screen
  function nice(x) {
    var p = Math.pow(10, Math.floor(Math.log(x) / Math.LN10)), m = x / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function chart(c, width) {
    var W = Math.max(240, Math.min(width || 600, 900)), H = 190, L = 38, R = 44, T = 12, B = 30;
    var n = c.a.length, amps = c.a.map(function (x) { return x / 2; }), kw = c.kw.map(function (x) { return x / 10; });
    var atop = nice(Math.max(8, Math.max.apply(null, amps.concat([0])) * 1.15) / 4) * 4;
    var ktop = nice(Math.max(2, Math.max.apply(null, kw.concat([0])) * 1.15) / 4) * 4;
    var span = Math.max(60, (n - 1) * c.every_s), mins = span / 60, step = nice(mins / 5);
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", n > 1 ? "Current and power of this session over " + Math.round(mins) + " minutes" : "No chart yet");
    function el(tag, at, text) {
      var e = document.createElementNS(ns, tag);
      for (var k in at) e.setAttribute(k, at[k]);
      if (text != null) e.textContent = text;
      svg.appendChild(e);
    }
    function x(i) { return L + (i * c.every_s) / span * (W - L - R); }
    function y(v, top) { return T + (1 - v / top) * (H - T - B); }
    for (var g = 0; g <= 4; g++) {
      var gy = y(g * atop / 4, atop);
      el("line", {x1: L, x2: W - R, y1: gy, y2: gy, "class": "grid"});
      el("text", {x: L - 4, y: gy + 4, "text-anchor": "end"}, g * atop / 4);
      el("text", {x: W - R + 4, y: gy + 4}, +(g * ktop / 4).toFixed(1));
    }
    for (var t = 0; t <= mins + 1e-9; t += step) {
      var tx = L + t * 60 / span * (W - L - R);
      el("line", {x1: tx, x2: tx, y1: H - B, y2: H - B + 4, "class": "axis"});
      el("text", {x: tx, y: H - B + 15, "text-anchor": "middle"}, +t.toFixed(1));
    }
    el("line", {x1: L, x2: L, y1: T, y2: H - B, "class": "axis"});
    el("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, "class": "axis"});
    el("text", {x: 2, y: T - 2}, "A");
    el("text", {x: W - 22, y: T - 2}, "kW");
    el("text", {x: W - R, y: H - 2, "text-anchor": "end"}, "minutes");
    if (n > 1) {
      el("polyline", {"class": "a", points: amps.map(function (v, i) { return x(i).toFixed(1) + "," + y(v, atop).toFixed(1); }).join(" ")});
      el("polyline", {"class": "p", points: kw.map(function (v, i) { return x(i).toFixed(1) + "," + y(v, ktop).toFixed(1); }).join(" ")});
    } else el("text", {x: L + 10, y: H / 2}, c.plugged ? "The first points come within a minute." : "The chart starts when a vehicle is plugged in.");
    return h("div", {"class": "chart"}, [svg, h("ul", {"class": "legend"}, [
      h("li", {}, [h("span", {"class": "key a"}), "Current (A, left axis)"]),
      h("li", {}, [h("span", {"class": "key p"}), "Power (kW, right axis)"])])]);
  }
  // The status in words and in the front LEDs' colour (S1..S4)
  var STATES = {
    Idle: ["Ready", "No vehicle plugged in.", "blue"],
    ReadyForCharging: ["Vehicle connected", "Plugged in, not charging yet.", "blue"],
    Charging: ["Charging", "Power is being transferred to the vehicle.", "blue on"],
    Suspended: ["Paused", "Charging is paused by a limit, the app or the backend.", "blue"],
    RecoverFromError: ["Fault", "The wallbox tries again by itself.", "red"],
    UnrecoverableError: ["Fault", "Restart the wallbox from the mains (its circuit breaker).", "red"],
    ServiceMode: ["Commissioning mode", "Charging is disabled while the installer sets the wallbox up (DIP switches or the setting under Configuration, System).", "orange"],
    Degraded: ["Reduced power (degraded mode)", "A safety-related reduction is in force.", "orange"],
    TokenProgrammingMode: ["Programming cards", "Hold the cards to add or remove to the reader.", "white"]
  };
  var BY = {installation: "the installation (DIP switches)", cable: "the charging cable", configured: "the configured maximum",
    temperature: "the wallbox's temperature", "load management": "the house fuse (load management)",
    "meter fallback": "the safe value while the house meter does not answer", "solar surplus": "the solar surplus",
    backend: "the backend's charging schedule", app: "the app or this page"};
  // The manual's fault codes: meaning and what to do
  var FAULTS = {
    1: ["Vehicle disconnected during the self-test or while charging.", "Plug the connector in correctly, making sure it locks."],
    3: ["Temperature shut-off: the wallbox is too warm.", "Charging resumes by itself once it has cooled down; keep it out of direct sun."],
    5: ["An impermissible load instead of a vehicle.", "Only standard-compliant vehicles may be charged: remove the load and start again."],
    8001: ["The charging voltage could not be switched on.", "Reconnect the vehicle or restart the wallbox; if it repeats, contact service."],
    8002: ["The mains voltage is outside 160 - 280 V.", "Reduce the current or have an electrician reinforce the supply line."],
    4003: ["The vehicle drew more current than offered.", "If it repeats, have the vehicle checked in a workshop."],
    8005: ["Fault current detected.", "Check the cable for damage and the plug for water; a lightning strike nearby can trigger it too."],
    8007: ["Safety monitoring: the relay may no longer open.", "Restart the wallbox from the mains side; if it stays, have the wallbox replaced."],
    8008: ["Protective earth missing or its resistance too high.", "Have the earth connected correctly, then restart from the mains side."]
  };
  function faultText(code, fallback) {
    var f = FAULTS[code];
    return f ? f[0] + " " + f[1] : (fallback || "Unknown fault") + ": contact your service partner.";
  }
  function duration(s) {
    if (s == null) return "-";
    var m = Math.floor(s / 60);
    return m >= 60 ? Math.floor(m / 60) + " h " + (m % 60) + " min" : m + " min " + (s % 60) + " s";
  }
  function tile(title, id, value, extra) {
    return h("div", {"class": "tile"}, [h("span", {"class": "t", text: title}), h("b", {id: id, text: value}), extra]);
  }
  function status() {
    var box = h("div", {id: "live"}), more = h("div"), ctl = h("section"), note = h("div", {"class": "msg", role: "status", hidden: true});
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
    page("Status", [box, ctl, more]);
    function row(t, v, id) { return h("tr", {}, [h("th", {scope: "row", text: t}), h("td", {id: id, text: v == null ? "-" : String(v)})]); }
    function poll() {
      clearTimeout(timer);
      api("GET", "v1/status").then(function (s) {
        if (view !== "status") return;
        timer = setTimeout(poll, 2000);
        if (s.code === 0) { box.textContent = s.error; return; }
        var here = location.hostname, ips = (s.net || []).map(function (n) { return n.ip; });
        var me = (s.net || []).filter(function (n) { return n.ip === here; })[0] || (s.net || [])[0] || {};
        var others = ips.filter(function (ip) { return ip !== me.ip; });
        var b = s.backend, st = STATES[s.status] || [s.status, "", "blue"], word = st[0], why = st[1], colour = st[2];
        if (s.showroom && s.status !== "Charging") { word = "Showroom mode"; why = "Charging is disabled; everything else works (Configuration, System)."; colour = "white"; }
        if (s.status === "Suspended" && BY[s.limit_by] && s.limit_a < 6) why = "Paused by " + BY[s.limit_by] + ".";
        if (s.status === "Degraded") why = "Limited to " + num(s.limit_a, "A") + " by " + (BY[s.limit_by] || s.limit_by) + ".";
        if (s.fault) why = "Fault " + s.fault + ": " + faultText(s.fault, s.fault_text);
        cur.max = s.max_a;
        if (!edited && document.activeElement !== cur)
          cur.value = Math.max(6, Math.floor(Math.min(s.max_a, s.app_a != null ? s.app_a : (s.offered_a || s.max_a))));
        var phases = h("span", {"class": "phases", id: "phases"}, s.current_a.map(function (x, i) {
          return h("span", {}, ["L" + (i + 1) + " ", h("b", {text: num(x, "A")})]);
        }));
        box.textContent = more.textContent = "";
        box.appendChild(h("section", {"class": "hero led-" + colour.split(" ")[0] + (/ on/.test(colour) ? " pulse" : "")}, [
          h("div", {"class": "leds", "aria-hidden": "true"}, [h("i"), h("i"), h("i"), h("i")]),
          h("div", {}, [h("p", {"class": "state", id: "st", text: word}), h("p", {"class": "why", id: "st-why", text: why})]),
          h("p", {"class": "power"}, [h("b", {id: "power", text: (s.power_w / 1000).toFixed(1)}), " kW"])]));
        box.appendChild(h("section", {"class": "tiles"}, [
          tile("Current per phase", "current", "", phases),
          tile("Session energy", "energy", num(s.energy_wh / 1000, "kWh")),
          tile("Session duration", "duration", s.vehicle || s.energy_wh ? duration(s.session_s) : "-"),
          tile("Offered to the vehicle", "offered", num(s.offered_a, "A")),
          tile("Limit", "limit", num(s.limit_a, "A"), h("span", {"class": "t", id: "limit-by", text: "set by " + (BY[s.limit_by] || s.limit_by)}))]));
        if (s.safe_mode) box.appendChild(h("p", {"class": "msg bad", text: "Safe mode: charging stopped until a restart (see the data log)."}));
        if (s.not_started && s.not_started.length) box.appendChild(h("p", {"class": "msg bad", text: "Not started for want of memory: " + s.not_started.join(", ") + ". The charger tries again by itself; a board with more RAM, or fewer features switched on, cures it (see the manual: RAM)."}));
        var c = h("section", {}, h("h2", {text: "This session"}));
        more.appendChild(c);
        s.chart.plugged = s.vehicle;
        c.appendChild(chart(s.chart, c.clientWidth - 24));
        more.appendChild(h("section", {}, [h("h2", {text: "Details"}), h("table", {}, [
          row("Vehicle", s.vehicle ? "connected" : "not connected"),
          row("Session current set here", s.app_a == null ? "none" : s.app_a ? num(s.app_a, "A") : "stopped", "app"),
          row("Last fault", s.last_fault ? s.last_fault + ": " + faultText(s.last_fault) : "none", "fault"),
          row("Temperature", num(s.temp_c, "\u00b0C")), row("Mains voltage", num(s.mains_v, "V")),
          row("Backend connection", b ? b.state + (b.error ? ": " + b.error : "") : "off"),
          row("Synchronisation", b ? (b.synced ? "synchronised" : "not synchronised") : "-"),
          row("MQTT", s.mqtt || "off"),
          row("Device type", s.type), row("Serial number", s.serial), row("Software version", s.version),
          row("IP address", (me.ip || here) + (others.length ? " (" + others.join(", ") + ")" : "")),
          row("MAC address", me.mac || "-"),
          row("Clock", s.time)
        ])]));
      });
    }
    poll();
  }

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
    var bar = h("progress", {max: 100, value: 0, hidden: true, "aria-label": "Upload progress"}), note = h("div", {"class": "msg", hidden: true});
    var logbox = h("pre", {id: "log", tabindex: 0, role: "region", "aria-label": "Data log", text: "loading..."});
    var resetPw = h("input", {type: "password", id: "reset-password", autocomplete: "current-password"});
    var resetNote = h("div", {"class": "msg", hidden: true});
    function loadLog() {
      api("GET", "log?n=200").then(function (r) { logbox.textContent = (r.lines || [r.error]).join("\n"); });
    }
    page("System", [
      h("section", {}, [h("h2", {text: "Software update"}),
        h("p", {"class": "hint", text: "Choose an update bundle (.wbx) and press Upload & Install. Charging stops during the update; the wallbox restarts with the new version and goes back to the old one if it does not run."}),
        h("label", {"for": "bundle", text: "Update bundle"}), file, h("br"), h("button", {type: "button", id: "upload", text: "Upload & Install", onclick: function () {
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
      online(),
      h("section", {}, [h("h2", {text: "Data logging"}), logbox,
        h("button", {type: "button", "class": "alt", text: "Refresh", onclick: loadLog}),
        h("a", {"class": "btn", href: "/api/log/all", download: "", id: "download", text: "Download All"}),
        h("a", {"class": "btn alt", href: "/api/log/all.gz", download: "", id: "download-gz", text: "Download All (gzip)"})]),
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
  function online() {
    var note = h("div", {"class": "msg", hidden: true}), info = h("div", {});
    var bar = h("progress", {max: 100, value: 0, hidden: true});
    var install = h("button", {type: "button", id: "install", text: "Download & Install", hidden: true, onclick: function () {
      install.disabled = true;
      api("POST", "update/install", {}).then(function (r) {
        if (r.code !== 200) { install.disabled = false; msg(note, r.error, true); return; }
        bar.hidden = false;
        (function poll() {
          api("GET", "update/status").then(function (s) {
            if (s.total) bar.value = 100 * s.progress / s.total;
            if (s.state === "downloading") { msg(note, "Downloading " + Math.round(s.progress / 1024) + " of " + Math.round(s.total / 1024) + " KB..."); setTimeout(poll, 500); }
            else if (s.state === "installed") { msg(note, "Version " + s.version + " verified and installed."); waitBack("Restarting into " + s.version + "..."); }
            else { install.disabled = false; msg(note, "Not installed, the running version stays: " + s.error, true); }
          });
        })();
      });
    }});
    return h("section", {}, [h("h2", {text: "Online update"}),
      h("p", {"class": "hint", text: "Checks the update address (Configuration, System, Updates & SD card). Not while charging: the download ends a session."}),
      h("button", {type: "button", "class": "alt", id: "check", text: "Check for Update", onclick: function () {
        msg(note, "Checking...");
        api("POST", "update/check", {}).then(function (r) {
          info.textContent = "";
          if (r.code !== 200) { msg(note, r.error, true); return; }
          msg(note, r.newer ? "Version " + r.version + " is available (running " + r.running + ")." : "Up to date: version " + r.running + " (newest " + r.version + ").");
          if (r.notes) info.appendChild(h("pre", {text: r.notes}));
          install.hidden = !r.newer;
        });
      }}), note, info, install, bar]);
  }
  function config(part) {
    part = GROUPS[part] ? part : "network";
    api("GET", "config").then(function (cfg) {
      if (cfg.code !== 200 || view !== "config") return;
      var tabs = h("nav", {"class": "tabs", "aria-label": "Configuration sections"}, Object.keys(GROUPS).map(function (g) {
        return h("a", {href: "#config/" + g, "aria-current": g === part ? "page" : null, text: GROUPS[g][0]});
      }));
      page("Configuration", [tabs, sectionForm(GROUPS[part][1].filter(function (n) { return SECTIONS[n]; }), cfg)]);
      if (part === "auth") main.appendChild(cards());
      if (part === "system") main.appendChild(transfer());
    });
  }
  function cards() {
    var box = h("section", {id: "cards"}, h("h2", {text: "RFID cards"})), list = h("div"), note = h("div", {"class": "msg", hidden: true});
    var uid = h("input", {type: "text", id: "new-uid", "aria-label": "New card: UID", placeholder: "UID in hex, e.g. 04A1B2C3D4E5F6", maxlength: 20});
    var lab = h("input", {type: "text", id: "new-label", "aria-label": "New card: label", placeholder: "label", maxlength: 32});
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
              msg(note, r.error + (r.errors ? ": " + Object.keys(r.errors).map(function (k) { return label(k) + ": " + r.errors[k]; }).join("; ") : ""), true);
              return;
            }
            msg(note, "Imported." + (r.ignored.length ? " Ignored (unknown here): " + r.ignored.map(label).join(", ") : "") + (r.restart ? " Some changes apply after a restart." : ""));
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
        })), sectionForm([steps[i]], cfg, function () {
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
    var list = h("div"), note = h("div", {"class": "msg", hidden: true}), label = h("input", {type: "text", id: "token-label", "aria-label": "Name of the new token", maxlength: 32, placeholder: "e.g. home automation"});
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
      var box = h(pre ? "pre" : "section", {"class": pre ? "full" : "help"});
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
  var leaving = "";  // the hash we came back to after a refused leave
  function route() {
    var hash = location.hash || "#status", parts = hash.slice(1).split("/");
    nav.classList.remove("open");
    document.getElementById("menu").setAttribute("aria-expanded", "false");
    if (hash === leaving) { leaving = ""; return; }
    if (dirty && document.body.contains(dirty) && !confirm("Leave without saving your changes?")) {
      leaving = "#" + view + (sub ? "/" + sub : "");
      location.hash = leaving;
      return;
    }
    dirty = null;
    view = parts[0];
    sub = parts[1] || "";
    if (!VIEWS[view]) view = "status";
    nav.querySelectorAll("a").forEach(function (a) {
      var on = a.getAttribute("href") === "#" + view;
      a.className = on ? "on" : "";
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    if (!csrf && view !== "recover") { login(); return; }
    VIEWS[view](sub);
  }
  window.addEventListener("beforeunload", function (ev) {
    if (dirty && document.body.contains(dirty)) { ev.preventDefault(); ev.returnValue = ""; }
  });
  window.addEventListener("hashchange", route);
  document.getElementById("menu").addEventListener("click", function () {
    this.setAttribute("aria-expanded", String(nav.classList.toggle("open")));
  });
  api("GET", "session").then(function (s) {
    if (s.code !== 200) return;
    csrf = s.csrf;
    nav.hidden = false;
    document.getElementById("menu").hidden = false;
    if (s.must_change) password(true); else route();
  }, function () { if (location.hash === "#recover") recover(); });
})();
