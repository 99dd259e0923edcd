// Small glue for the shop's pages: header counters that stay true, and focus after swaps.
// Everything here improves pages that already work without JavaScript.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var COUNTERS_URL = "/bag/counters";
  var channel = "BroadcastChannel" in window ? new BroadcastChannel("shop-bag") : null;

  // The counters, and the page's Add and Wishlist forms with fresh tokens and marks.
  function refreshCounters() {
    if (!window.htmx) return;
    var ids = [].map.call(document.querySelectorAll('form[id^="add-"], form[id^="wish-"]'),
      function (form) { return form.id; });
    window.htmx.ajax("GET", COUNTERS_URL + "?forms=" + encodeURIComponent(ids.join(",")),
      { source: document.body, swap: "none" });
  }

  document.body.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (event.detail.successful && elt && elt.dataset) delete elt.dataset.resent;
  });

  // Refused for an ended session, a request brings a fresh token: the page takes it, and
  // the request goes once more.
  document.body.addEventListener("shop:token-renewed", function (event) {
    var token = event.detail.value;
    var source = event.target;
    document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRFToken": token }));
    document.querySelectorAll('input[name="csrf_token"]').forEach(function (input) {
      input.value = token;
    });
    if (source !== document.body && !source.dataset.resent) {
      source.dataset.resent = "1";
      window.htmx.trigger(source, source.tagName === "FORM" ? "submit" : "change");
    }
  });

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
    var notice = document.querySelector(".bag-notice-floating .bag-notice");
    if (notice && !notice.dataset.shown) {
      showNotice(notice);
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

  // A message in the status toast stays a few seconds, then the toast empties itself. A
  // message shown (not only said) after the notice takes the notice's place at the bottom of
  // the screen rather than stacking with it.
  var statusTimer = null;
  document.body.addEventListener("htmx:afterSettle", function () {
    var status = document.getElementById("status");
    if (!status || !status.textContent.trim()) return;
    var notice = document.querySelector(".bag-notice[data-shown]");
    if (notice && status.querySelector("p:not(.quiet)")) closeNotice(notice);
    clearTimeout(statusTimer);
    statusTimer = setTimeout(function () {
      status.textContent = "";
    }, 8000);
  });

  // The notice after an add, sent by htmx, takes the focus (a dialog that says what happened)
  // and leaves on its own after a while, unless the pointer is over it or the focus is on one
  // of its links: then it stays, and leaves a while after they have gone. It also closes with
  // Escape or its Close link. When it leaves with the focus, the focus goes back to the button
  // that added (or to the page's content); when the focus is elsewhere, it stays there.
  var NOTICE_MS = 9000;
  var noticeTimer = null;

  function noticeHeld(notice) {
    var active = document.activeElement;
    return notice.matches(":hover") || (active !== notice && notice.contains(active));
  }

  function leaveLater(notice) {
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () {
      if (notice.isConnected && !noticeHeld(notice)) closeNotice(notice, true);
    }, NOTICE_MS);
  }

  function showNotice(notice) {
    notice.dataset.shown = "1";
    notice.addEventListener("pointerenter", function () {
      clearTimeout(noticeTimer);
    });
    notice.addEventListener("pointerleave", function () {
      if (!noticeHeld(notice)) leaveLater(notice);
    });
    notice.addEventListener("focusin", function (event) {
      if (event.target !== notice) clearTimeout(noticeTimer);
    });
    notice.addEventListener("focusout", function (event) {
      var next = event.relatedTarget;
      if (next && next !== notice && notice.contains(next)) return;
      if (!notice.matches(":hover")) leaveLater(notice);
    });
    notice.focus();
    leaveLater(notice);
  }

  function closeNotice(notice, onItsOwn) {
    notice = notice || document.querySelector(".bag-notice");
    if (!notice) return false;
    clearTimeout(noticeTimer);
    var hadFocus = notice.contains(document.activeElement);
    var back =
      (notice.dataset.returnFocus && document.getElementById(notice.dataset.returnFocus)) ||
      document.getElementById("main");
    notice.parentNode.removeChild(notice);
    if (hadFocus && back) back.focus({ preventScroll: !!onItsOwn });
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.activeElement && document.activeElement.closest(".bag-notice")) {
      if (closeNotice(document.activeElement.closest(".bag-notice"))) event.preventDefault();
    }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-close-notice]");
    if (link && closeNotice(link.closest(".bag-notice"))) event.preventDefault();
  });
})();
