// Small glue for the shop's pages: header counters that stay true, and focus after swaps.
// Everything here improves pages that already work without JavaScript.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var COUNTERS_URL = "/bag/counters";
  var channel = "BroadcastChannel" in window ? new BroadcastChannel("shop-bag") : null;

  function refreshCounters() {
    if (window.htmx) {
      window.htmx.ajax("GET", COUNTERS_URL, { source: document.body, swap: "none" });
    }
  }

  // Shown again from the back/forward cache, or from the HTTP cache by a history move:
  // the counters may be stale.
  window.addEventListener("pageshow", function (event) {
    var entry = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    if (event.persisted || (entry && entry.type === "back_forward")) refreshCounters();
  });
  // Back to this tab after a while: another tab may have changed the bag.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refreshCounters();
  });
  // A change made here (the server triggers shop:bag-changed) is news for the other tabs.
  document.body.addEventListener("shop:bag-changed", function () {
    if (channel) channel.postMessage("changed");
  });
  if (channel) {
    channel.onmessage = function () {
      refreshCounters();
    };
  }

  // Keep focus where the person was when htmx replaces the element that had it. It is
  // noted before the request: hx-disabled-elt disables the button, and a disabled button
  // loses focus. When that element is gone or disabled after the swap (a removed line, a −
  // button at 1), the focus goes to the one its data-focus-next names.
  var focusedId = null;
  var focusNextId = null;
  document.body.addEventListener("htmx:beforeRequest", function () {
    var active = document.activeElement;
    focusedId = active && active.id ? active.id : null;
    focusNextId = active && active.dataset ? active.dataset.focusNext || null : null;
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    var notice = document.querySelector(".bag-notice");
    if (notice && !notice.dataset.shown) {
      notice.dataset.shown = "1";
      notice.focus();
      return;
    }
    var active = document.activeElement;
    if (active && active !== document.body) return;
    var ids = [focusedId, focusNextId];
    for (var i = 0; i < ids.length; i++) {
      var target = ids[i] && document.getElementById(ids[i]);
      if (target && !target.disabled) {
        target.focus();
        return;
      }
    }
  });

  // A message in the status toast stays a few seconds, then the toast empties itself.
  var statusTimer = null;
  document.body.addEventListener("htmx:afterSettle", function () {
    var status = document.getElementById("status");
    if (!status || !status.textContent.trim()) return;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(function () {
      status.textContent = "";
    }, 8000);
  });

  // The notice after an add closes with Escape or its Close link, and gives focus back.
  function closeNotice() {
    var notice = document.querySelector(".bag-notice");
    if (!notice) return false;
    var back = notice.dataset.returnFocus && document.getElementById(notice.dataset.returnFocus);
    notice.parentNode.removeChild(notice);
    if (back) back.focus();
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.activeElement && document.activeElement.closest(".bag-notice")) {
      if (closeNotice()) event.preventDefault();
    }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-close-notice]");
    if (link && closeNotice()) event.preventDefault();
  });
})();
