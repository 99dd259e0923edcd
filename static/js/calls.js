// The call's times in the buyer's own zone: when the page was opened without a zone asked
// for, pick the browser's zone in the list (if it is there) and let htmx redraw the times.
// Without JavaScript the list and its button do the same, starting from the studio's zone.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  // After htmx's own DOMContentLoaded handler (htmx is loaded first): the list is wired.
  var select = document.getElementById("call-zone");
  if (!select || select.getAttribute("data-zone-asked") === "true") return;
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone || zone === select.value) return;
  var known = [].some.call(select.options, function (option) { return option.value === zone; });
  if (!known) return;
  select.value = zone;
  select.dispatchEvent(new Event("change", { bubbles: true }));
});
