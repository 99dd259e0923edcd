// The header search box as an ARIA combobox with a listbox popup (the APG pattern): arrow
// keys move through the suggestions htmx puts under it, Enter opens the active one, Escape
// closes the list and leaves focus in the box. Also: after "Load more" on the results page,
// focus moves to the first new result. Without this file the box is a plain search form.
(function () {
  "use strict";

  function setUp() {
    var input = document.getElementById("site-search-input");
    var popup = document.getElementById("site-search-popup");
    if (!input || !popup) return;
    var combo = popup.parentNode;
    var active = -1;
    var dismissed = false;

    function options() {
      return Array.prototype.slice.call(popup.querySelectorAll('[role="option"]'));
    }

    function activate(index) {
      var items = options();
      items.forEach(function (item, i) {
        item.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      active = index;
      if (index >= 0 && items[index]) {
        input.setAttribute("aria-activedescendant", items[index].id);
        items[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function open() {
      popup.hidden = false;
      input.setAttribute("aria-expanded", options().length ? "true" : "false");
    }

    function close() {
      activate(-1);
      popup.hidden = true;
      input.setAttribute("aria-expanded", "false");
    }

    input.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.isComposing) return;
      var items = options();
      var shown = !popup.hidden && items.length > 0;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!items.length) return;
        event.preventDefault();
        dismissed = false;
        if (!shown) {
          open();
          if (event.altKey) return; // Alt+Down opens without choosing
        }
        var step = event.key === "ArrowDown" ? 1 : -1;
        var next = active + step;
        if (active < 0 && step < 0) next = items.length - 1;
        activate((next + items.length) % items.length);
      } else if (event.key === "Enter") {
        var link = shown && active >= 0 ? items[active].closest("a[href]") : null;
        if (link) {
          event.preventDefault();
          window.location.assign(link.href);
        }
      } else if (event.key === "Escape") {
        // A search field clears itself on Escape; while the list is open, only close it.
        if (!popup.hidden && popup.textContent.trim()) {
          event.preventDefault();
          dismissed = true;
          close();
        }
      }
    });

    // Typing again reopens what Escape closed; moving the caret forgets the active option.
    input.addEventListener("input", function () {
      dismissed = false;
      activate(-1);
    });
    input.addEventListener("click", function () {
      if (active >= 0) activate(-1);
      if (dismissed && popup.textContent.trim()) {
        dismissed = false;
        open();
      }
    });

    // Escape from the "See all" link in the list: close and return to the box.
    popup.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        dismissed = true;
        close();
        input.focus();
      }
    });

    // Focus left the box and its list: close the list.
    combo.addEventListener("focusout", function (event) {
      if (!event.relatedTarget || !combo.contains(event.relatedTarget)) close();
    });

    // New suggestions arrived (hx-sync makes sure they answer the latest input).
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target !== popup) return;
      active = -1;
      input.removeAttribute("aria-activedescendant");
      if (dismissed || document.activeElement !== input) {
        close();
      } else {
        open();
      }
    });
  }

  // "Load more" on the results page: focus the first of the results it added.
  var loadedFrom = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var grid = document.getElementById("search-results");
    if (grid && elt && elt.closest && elt.closest(".search-more")) {
      loadedFrom = grid.querySelectorAll(".offer-card").length;
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (loadedFrom === null) return;
    var grid = document.getElementById("search-results");
    var first = grid ? grid.querySelectorAll(".offer-card")[loadedFrom] : null;
    loadedFrom = null;
    var link = first && first.querySelector(".offer-link");
    if (link) link.focus();
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
