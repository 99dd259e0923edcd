// The checkout's draft is saved as it is typed (htmx, 600 ms after the last key). What was
// typed in the last moments before a reload, a link or a closed tab is sent as the page goes
// (a beacon, which outlives the page) and kept in this tab's sessionStorage until the page
// is shown again, which puts back anything the server did not get in time.
(function () {
  "use strict";
  var form = document.querySelector(".checkout-form");
  if (!form) return;
  var DRAFT_URL = form.getAttribute("data-draft-url");
  var KEY = "shop-checkout-unsaved";
  var dirty = {}; // field name -> true: changed since the server last took it
  var sent = {}; // field name -> the value of its request in flight

  function fields(name) {
    return form.querySelectorAll('[name="' + name + '"]');
  }
  function valueOf(name) {
    var found = fields(name);
    if (found.length && found[0].type === "checkbox") {
      return Array.prototype.filter
        .call(found, function (box) { return box.checked; })
        .map(function (box) { return box.value; });
    }
    return found.length ? found[0].value : null;
  }
  function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  function saved(name) {
    return name && form.querySelector('[hx-vals*=\'"' + name + '"\']') !== null;
  }

  // A required field left empty says so at once: its check runs as if it had changed.
  form.addEventListener("focusout", function (event) {
    var field = event.target;
    if (!field.required || field.value.trim() !== "" || !window.htmx) return;
    var wrapper = field.closest("[hx-post]");
    if (wrapper) window.htmx.trigger(wrapper, "change");
  });

  function mark(event) {
    var name = event.target && event.target.name;
    if (saved(name)) dirty[name] = true;
  }
  form.addEventListener("input", mark);
  form.addEventListener("change", mark);

  // A save or a check that the server answered: that field is clean if nothing changed since.
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var values = event.detail.requestConfig && event.detail.requestConfig.parameters;
    var name = values && values._field;
    if (name) sent[name] = valueOf(name);
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var values = event.detail.requestConfig && event.detail.requestConfig.parameters;
    var name = values && values._field;
    if (name && event.detail.successful && same(sent[name], valueOf(name))) delete dirty[name];
  });

  function flush() {
    var names = Object.keys(dirty);
    if (!names.length || !navigator.sendBeacon) return;
    var token = form.querySelector('input[name="csrf_token"]').value;
    var kept = {};
    names.forEach(function (name) {
      var value = valueOf(name);
      var data = new FormData();
      data.append("csrf_token", token);
      data.append("_field", name);
      [].concat(value).forEach(function (item) { data.append(name, item); });
      navigator.sendBeacon(DRAFT_URL, data);
      kept[name] = value;
    });
    try {
      sessionStorage.setItem(KEY, JSON.stringify(kept));
    } catch (error) {
      // Storage full or off: the beacons alone must do.
    }
    dirty = {};
  }
  window.addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      flush();
    } else {
      // Back to this very page: it holds the values; an older copy must not come back later.
      try {
        sessionStorage.removeItem(KEY);
      } catch (error) {
        // nothing kept
      }
    }
  });

  // Shown again: put back what the server may not have had in time, and save it.
  var kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
    sessionStorage.removeItem(KEY);
  } catch (error) {
    kept = null;
  }
  if (kept) {
    Object.keys(kept).forEach(function (name) {
      if (!saved(name) || same(valueOf(name), kept[name])) return;
      var found = fields(name);
      if (found.length && found[0].type === "checkbox") {
        Array.prototype.forEach.call(found, function (box) {
          box.checked = kept[name].indexOf(box.value) !== -1;
        });
      } else if (found.length) {
        found[0].value = kept[name];
      }
      dirty[name] = true;
      if (window.htmx) {
        var values = { _field: name };
        values[name] = kept[name];
        window.htmx.ajax("POST", DRAFT_URL, { source: form, values: values, swap: "none" });
      }
    });
  }
})();
