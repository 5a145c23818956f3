(function () {
  "use strict";
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-verdict-filter]"));
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var groups = Array.prototype.slice.call(document.querySelectorAll("tbody.recipient"));
  function apply() {
    var visible = {};
    boxes.forEach(function (box) { visible[box.value] = box.checked; });
    var query = (search.value || "").trim().toLowerCase();
    var count = 0;
    groups.forEach(function (group) {
      var ok = visible[group.getAttribute("data-verdict")] === true &&
        (!query || group.getAttribute("data-address").indexOf(query) !== -1 ||
         group.getAttribute("data-codes").toLowerCase().indexOf(query) !== -1);
      group.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }
  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  search.addEventListener("input", apply);
  var expand = document.getElementById("expand-all");
  expand.addEventListener("click", function () {
    var open = expand.getAttribute("aria-pressed") !== "true";
    expand.setAttribute("aria-pressed", open ? "true" : "false");
    expand.textContent = open ? "Collapse all" : "Expand all";
    groups.forEach(function (group) {
      if (!group.hidden) { group.querySelectorAll("details").forEach(function (d) { d.open = open; }); }
    });
  });
  apply();
  document.documentElement.setAttribute("data-ready", "true");
})();
