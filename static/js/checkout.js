// The draft is saved as it is typed (htmx, 600 ms after the last key). Keys typed just before
// the page goes are sent as it goes (a beacon) and kept in this tab's sessionStorage, which
// puts them back if the server had them too late. A required field left empty is checked.
(function () {
  "use strict";
  var form = document.querySelector(".checkout-form");
  if (!form) return;
  var URL = form.getAttribute("data-draft-url");
  var KEY = "shop-checkout-unsaved";
  var dirty = {}; // fields changed since the server last took them
  var sent = {}; // the value of each field's request in flight

  function fields(name) {
    return form.querySelectorAll('[name="' + name + '"]');
  }
  function valueOf(name) {
    var found = fields(name);
    if (found.length && found[0].type === "checkbox") {
      return [].filter.call(found, function (box) { return box.checked; })
        .map(function (box) { return box.value; });
    }
    return found.length ? found[0].value : null;
  }
  function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  function saved(name) {
    return !!name && !!form.querySelector("[hx-vals*='\"" + name + "\"']");
  }
  function field(event) {
    var values = event.detail.requestConfig && event.detail.requestConfig.parameters;
    return values && values._field;
  }
  function forget() {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
  }

  form.addEventListener("focusout", function (event) {
    var input = event.target;
    var wrapper = input.closest("[hx-post]");
    if (input.required && !input.value.trim() && wrapper && window.htmx) {
      window.htmx.trigger(wrapper, "change");
    }
  });
  ["input", "change"].forEach(function (type) {
    form.addEventListener(type, function (event) {
      if (saved(event.target.name)) dirty[event.target.name] = true;
    });
  });
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var name = field(event);
    if (name) sent[name] = valueOf(name);
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var name = field(event);
    if (name && event.detail.successful && same(sent[name], valueOf(name))) delete dirty[name];
  });

  function flush() {
    var names = Object.keys(dirty);
    if (!names.length || !navigator.sendBeacon) return;
    var token = form.querySelector('input[name="csrf_token"]').value;
    var kept = {};
    names.forEach(function (name) {
      var data = new FormData();
      data.append("csrf_token", token);
      data.append("_field", name);
      kept[name] = valueOf(name);
      [].concat(kept[name]).forEach(function (item) { data.append(name, item); });
      navigator.sendBeacon(URL, data);
    });
    try { sessionStorage.setItem(KEY, JSON.stringify(kept)); } catch (e) { /* beacons only */ }
    dirty = {};
  }
  window.addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", function () {
    // Back to this very page: it holds the values, so no older copy may come back later.
    if (document.visibilityState === "hidden") flush(); else forget();
  });

  var kept = null;
  try { kept = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { /* none */ }
  forget();
  Object.keys(kept || {}).forEach(function (name) {
    if (!saved(name) || same(valueOf(name), kept[name])) return;
    var found = fields(name);
    if (found.length && found[0].type === "checkbox") {
      [].forEach.call(found, function (box) { box.checked = kept[name].indexOf(box.value) !== -1; });
    } else if (found.length) {
      found[0].value = kept[name];
    }
    dirty[name] = true;
    var values = { _field: name };
    values[name] = kept[name];
    if (window.htmx) window.htmx.ajax("POST", URL, { source: form, values: values, swap: "none" });
  });
})();
