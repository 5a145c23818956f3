(function () {
  "use strict";
  // One script for both reports (a campaign preview, the team's relationship map): rows are
  // <tbody class="item"> groups; filters, search, sorting and "expand all" work on them.
  var items = Array.prototype.slice.call(document.querySelectorAll("tbody.item"));
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-filter]"));
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");

  function apply() {
    var allowed = {};
    var attribute = null;
    boxes.forEach(function (box) {
      attribute = "data-" + box.getAttribute("data-filter");
      allowed[box.value] = box.checked;
    });
    var query = search ? (search.value || "").trim().toLowerCase() : "";
    var count = 0;
    items.forEach(function (item) {
      var ok = (attribute === null || allowed[item.getAttribute(attribute)] === true) &&
        (!query || (item.getAttribute("data-search") || "").indexOf(query) !== -1);
      item.hidden = !ok;
      if (ok) { count += 1; }
    });
    if (shown) { shown.textContent = String(count); }
  }

  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  if (search) { search.addEventListener("input", apply); }

  // Sorting: a header <th data-sort="key" data-type="text|number|date"> sorts the groups by their
  // data-k-<key>; numbers and dates first from the highest, text from A; a second click reverses.
  var headers = Array.prototype.slice.call(document.querySelectorAll("th[data-sort]"));
  function compare(key, type, sign) {
    return function (a, b) {
      var x = a.getAttribute("data-k-" + key) || "";
      var y = b.getAttribute("data-k-" + key) || "";
      var c = 0;
      if (type === "number") {
        c = (parseFloat(x) || 0) - (parseFloat(y) || 0);
      } else {
        c = x < y ? -1 : (x > y ? 1 : 0);
      }
      if (c !== 0) { return sign * c; }
      return Number(a.getAttribute("data-k-index")) - Number(b.getAttribute("data-k-index"));
    };
  }
  headers.forEach(function (th) {
    th.setAttribute("aria-sort", "none");
    th.querySelector("button").addEventListener("click", function () {
      var type = th.getAttribute("data-type") || "text";
      var current = th.getAttribute("aria-sort");
      var ascending = current === "none" ? type === "text" : current === "descending";
      headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      items.sort(compare(th.getAttribute("data-sort"), type, ascending ? 1 : -1));
      items.forEach(function (item) { item.parentNode.appendChild(item); });
    });
  });

  var expand = document.getElementById("expand-all");
  if (expand) {
    expand.addEventListener("click", function () {
      var open = expand.getAttribute("aria-pressed") !== "true";
      expand.setAttribute("aria-pressed", open ? "true" : "false");
      expand.textContent = open ? "Collapse all" : "Expand all";
      items.forEach(function (item) {
        if (!item.hidden) { item.querySelectorAll("details").forEach(function (d) { d.open = open; }); }
      });
    });
  }
  apply();
  document.documentElement.setAttribute("data-ready", "true");
})();
